// Past forms of common irregular English verbs → their base form, which the stemmer
// cannot derive ("went" → "go", so "where did I go" meets "I went to Lisbon"): the
// lemmatization that matters most in what people tell an assistant.
export const IRREGULAR_VERBS: ReadonlyMap<string, string> = new Map(
  (
    'went:go gone:go saw:see seen:see bought:buy ate:eat eaten:eat made:make took:take taken:take got:get gotten:get ' +
    'felt:feel left:leave met:meet ran:run thought:think told:tell said:say came:come gave:give given:give found:find ' +
    'began:begin begun:begin kept:keep knew:know known:know brought:bring drove:drive driven:drive flew:fly flown:fly ' +
    'wrote:write written:write spent:spend taught:teach caught:catch slept:sleep won:win lost:lose paid:pay sold:sell ' +
    'sent:send built:build swam:swim swum:swim sang:sing sung:sing drank:drink drunk:drink wore:wear worn:wear chose:choose ' +
    'chosen:choose broke:break broken:break spoke:speak spoken:speak fell:fall fallen:fall held:hold heard:hear stood:stand ' +
    'understood:understand sat:sit became:become forgot:forget forgotten:forget rode:ride ridden:ride grew:grow grown:grow ' +
    'threw:throw thrown:throw drew:draw drawn:draw hid:hide hidden:hide bit:bite bitten:bite shook:shake shaken:shake ' +
    'woke:wake woken:wake fought:fight sought:seek bent:bend lent:lend dealt:deal meant:mean led:lead fed:feed fled:flee ' +
    'slid:slide struck:strike stuck:stick swore:swear torn:tear tore:tear froze:freeze frozen:freeze'
  )
    .split(' ')
    .map((p) => p.split(':') as [string, string]),
);
