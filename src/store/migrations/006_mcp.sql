-- Reasoning models (GLM-4.5+, DeepSeek): an answer's reasoning, stored beside its content
-- and never sent back to the model.
alter table messages add column reasoning text;
