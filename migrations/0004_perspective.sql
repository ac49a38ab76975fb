-- Perspective API drop-in and Coral's external moderation phase: scoring clients' keys,
-- scoring records, clients' labels, and Coral's signing secrets.

-- Keys of scoring clients (Perspective's `?key=`). Only a hash is stored; a key belongs to
-- one site. The quota is a token bucket per key: `quota_tokens` requests are left as of
-- `quota_at`, and the bucket refills at the site's requests-per-minute.
CREATE TABLE api_keys (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id         bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    name            text NOT NULL,
    key_hash        bytea NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    quota_tokens    double precision,
    quota_at        timestamptz
);
CREATE INDEX api_keys_site ON api_keys (site_id);

-- One row per scored request the client let us keep (never for `doNotStore`): what was
-- asked, by which model, what came out and how long it took. The text only when the
-- site keeps texts.
CREATE TABLE analyses (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id         bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    api_key_id      bigint REFERENCES api_keys (id) ON DELETE SET NULL,
    source          text NOT NULL CHECK (source IN ('analyze', 'coral')),
    model           text,
    language        text,
    scores          jsonb NOT NULL,
    latency_ms      real NOT NULL,
    body            text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX analyses_site ON analyses (site_id, created_at);

-- Clients' labels (`comments:suggestscore`): training data for the site. SPAM labels
-- feed the spam classifier's retraining; the others are kept for calibration and stats.
CREATE TABLE analysis_labels (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id         bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    api_key_id      bigint REFERENCES api_keys (id) ON DELETE SET NULL,
    attribute       text NOT NULL,
    value           real NOT NULL CHECK (value BETWEEN 0 AND 1),
    body            text NOT NULL,
    language        text,
    client_token    text,
    community_id    text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX analysis_labels_attribute ON analysis_labels (attribute, id);

-- Secrets Coral signs its external moderation phase requests with. HMAC needs the secret
-- itself, so it is stored as such (as Coral stores it). A rotated secret stays valid
-- until `expires_at`; the current one has none.
CREATE TABLE coral_secrets (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id         bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    secret          text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz
);
CREATE UNIQUE INDEX coral_secrets_current ON coral_secrets (site_id) WHERE expires_at IS NULL;

-- Retraining also learns from clients' SPAM labels: the newest one a model included.
ALTER TABLE spam_models ADD COLUMN last_label_id bigint NOT NULL DEFAULT 0;
