-- The format each spam model was saved in: the pipeline's format and scikit-learn's
-- version, as its blob's header says. A release with another of either refuses the blob,
-- so beat retrains a site whose newest model is of another format even when its
-- moderators have decided nothing new. Models stored before this column say '' and are
-- retrained at the next beat.
ALTER TABLE spam_models ADD COLUMN format text NOT NULL DEFAULT '';
