-- tower-hmac's key registry: apps, keys (secrets encrypted with AES-256-GCM under a master key,
-- the key id as associated data), and the audit trail of every change.
CREATE TABLE tower_hmac_apps (
    id          text PRIMARY KEY,
    -- what the app may call (policy scopes, read by the scope checks of issue 15)
    scopes      text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tower_hmac_keys (
    key_id          text PRIMARY KEY,
    app_id          text NOT NULL REFERENCES tower_hmac_apps (id),
    state           text NOT NULL CHECK (state IN ('active', 'revoked')),
    -- the schemes the key may be used with (NULL: every enabled one)
    schemes         text[],
    -- scopes of this key alone, narrowing its app's (NULL: the app's)
    scopes          text[],
    not_before      timestamptz,
    not_after       timestamptz,
    -- whether the secret is a provider's text (its bytes are the text) rather than random bytes
    secret_is_text  boolean NOT NULL DEFAULT false,
    -- AES-256-GCM: 12-byte nonce, ciphertext with its tag; master_key is the master key's id
    nonce           bytea NOT NULL,
    ciphertext      bytea NOT NULL,
    master_key      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (not_after IS NULL OR not_before IS NULL OR not_before <= not_after)
);

CREATE TABLE tower_hmac_audit (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    key_id      text NOT NULL,
    action      text NOT NULL,
    old_state   text,
    new_state   text
);
