-- Scoring on any hardware, and spam models that learn each site.

-- What each comment's toxicity scores were computed on, beside `model` (name@version):
-- the device (cpu, cuda:0), the weights' dtype (float32, bfloat16, float16, int8) and
-- the backend (torch, onnx). NULL where no model scored the comment.
ALTER TABLE comments
    ADD COLUMN model_device text,
    ADD COLUMN model_dtype text,
    ADD COLUMN model_backend text;

-- A spam model per site: the seed corpus plus that site's own moderators' decisions,
-- which count more than the seed. The models of earlier releases were trained on every
-- site's decisions at once; they go, and the next retraining rebuilds each site's from
-- the decisions in comment_events, which stay.
DELETE FROM spam_models;
ALTER TABLE spam_models ADD COLUMN site_id bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE;
CREATE INDEX spam_models_site ON spam_models (site_id, id);
