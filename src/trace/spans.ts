// A finished request's stages as OpenTelemetry spans: one span for the request, one
// child per recorded stage, with the stage's real start and end. agentmem depends on
// @opentelemetry/api only; spans exist when the process registers an SDK and an
// exporter (e.g. `node --import @opentelemetry/auto-instrumentations-node/register`).
// Without one the tracer is a no-op, `isRecording()` is false, and this costs one call.
import { context, trace, type Attributes } from '@opentelemetry/api';
import { STAGES, type Timings } from './timings.ts';

const tracer = trace.getTracer('agentmem');
const epoch = (t: number) => performance.timeOrigin + t;

export function recordSpans(name: string, timings: Timings, attributes: Attributes): void {
  const root = tracer.startSpan(name, { startTime: epoch(timings.start), attributes });
  if (!root.isRecording()) return;
  const parent = trace.setSpan(context.active(), root);
  let end = timings.start;
  for (const stage of STAGES) {
    const ms = timings.get(stage);
    const began = timings.startOf(stage);
    if (ms === undefined || began === undefined) continue;
    tracer.startSpan(`agentmem.${stage}`, { startTime: epoch(began) }, parent).end(epoch(began + ms));
    end = Math.max(end, began + ms);
  }
  const skipped = timings.toJSON().skipped;
  if (skipped) for (const [stage, reason] of Object.entries(skipped)) root.setAttribute(`agentmem.skipped.${stage}`, reason);
  root.end(epoch(end));
}
