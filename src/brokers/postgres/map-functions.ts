/**
 * PL/pgSQL functions of the PostgreSQL map broker, rendered per variant (`__P__` = table prefix
 * such as `cf_map_`, `__D__` = JSONB or BYTEA). `publish`, `publish_strict`, `remove`,
 * `remove_strict` and `expire_keys` keep Centrifugo's names, argument names, argument order,
 * defaults and result columns, so application SQL written for Centrifugo (positional or named
 * arguments, inside its own transaction) runs unchanged; Gyre's extra arguments come last and
 * default to "take it from the channel's meta row".
 *
 * Lock order everywhere: shard lock row, then the channel's meta row, then state rows. A channel
 * write is therefore serialised with every other write of its shard until commit, which makes
 * stream ids of one shard visible in id order: the outbox cursor never skips a row.
 *
 * Gyre's stream rules on top of Centrifugo's: `stream_size` 0 means ephemeral (offsets stay 0;
 * the stream row only carries live delivery and is never read back); `stream_size` N keeps the
 * last N offsets readable; `stream_ttl` makes the whole stream unreadable when no change was
 * appended for that long (`stream_start` marks where the readable stream starts again).
 */
export const MAP_FUNCTIONS_SQL = `
CREATE OR REPLACE FUNCTION __P__new_epoch() RETURNS TEXT AS $$
  SELECT string_agg(substr('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ', 1 + floor(random() * 52)::int, 1), '')
  FROM generate_series(1, 8)
$$ LANGUAGE sql VOLATILE;

CREATE OR REPLACE FUNCTION __P__shard(p_channel TEXT, p_num_shards INTEGER) RETURNS INTEGER AS $$
DECLARE
    v_n INTEGER := p_num_shards;
BEGIN
    IF v_n IS NULL THEN
        SELECT COUNT(*)::INTEGER INTO v_n FROM __P__shard_lock;
    END IF;
    IF v_n <= 0 THEN
        RAISE EXCEPTION '__P__shard_lock is empty: start the broker once to create the schema';
    END IF;
    -- bigint before abs(): hashtext may return the smallest integer.
    RETURN (abs(hashtext(p_channel)::BIGINT) % v_n)::INTEGER;
END;
$$ LANGUAGE plpgsql STABLE;

-- The channel's meta row, locked. A row idle past its expires_at counts as absent: the channel
-- starts over with a new epoch and loses its state and idempotency results. p_create = FALSE
-- returns a row of NULLs for an absent channel. p_meta_ttl (when not NULL) pushes the expiry.
CREATE OR REPLACE FUNCTION __P__lock_meta(p_channel TEXT, p_meta_ttl INTERVAL, p_create BOOLEAN)
RETURNS __P__meta AS $$
DECLARE
    m __P__meta;
BEGIN
    LOOP
        SELECT * INTO m FROM __P__meta WHERE channel = p_channel FOR UPDATE;
        IF FOUND THEN
            IF m.expires_at IS NOT NULL AND m.expires_at <= NOW() THEN
                IF NOT p_create THEN
                    RETURN NULL;
                END IF;
                DELETE FROM __P__state WHERE channel = p_channel;
                DELETE FROM __P__idempotency WHERE channel = p_channel;
                UPDATE __P__meta SET top_offset = 0, epoch = __P__new_epoch(), stream_start = 1,
                    stream_expires_at = NULL, created_at = NOW(), updated_at = NOW(),
                    expires_at = NOW() + p_meta_ttl
                WHERE channel = p_channel RETURNING * INTO m;
            ELSIF p_meta_ttl IS NOT NULL THEN
                UPDATE __P__meta SET expires_at = NOW() + p_meta_ttl
                WHERE channel = p_channel RETURNING * INTO m;
            END IF;
            RETURN m;
        END IF;
        IF NOT p_create THEN
            RETURN NULL;
        END IF;
        -- Leftovers of a channel whose meta row the cleanup deleted.
        DELETE FROM __P__state WHERE channel = p_channel;
        DELETE FROM __P__idempotency WHERE channel = p_channel;
        INSERT INTO __P__meta (channel, top_offset, epoch, expires_at)
        VALUES (p_channel, 0, __P__new_epoch(), NOW() + p_meta_ttl)
        ON CONFLICT (channel) DO NOTHING
        RETURNING * INTO m;
        IF FOUND THEN
            RETURN m;
        END IF;
    END LOOP;
END;
$$ LANGUAGE plpgsql;

-- Appends one change to the channel's stream (offset top + 1), or offset 0 without a stream.
CREATE OR REPLACE FUNCTION __P__advance(p_channel TEXT, p_stream_size INTEGER, p_stream_ttl INTERVAL)
RETURNS BIGINT AS $$
DECLARE
    v_stream BOOLEAN := p_stream_size IS NULL OR p_stream_size > 0;
    v_top BIGINT;
BEGIN
    UPDATE __P__meta SET
        top_offset = top_offset + (CASE WHEN v_stream THEN 1 ELSE 0 END),
        stream_start = CASE WHEN v_stream AND stream_expires_at IS NOT NULL AND stream_expires_at <= NOW()
            THEN top_offset + 1 ELSE stream_start END,
        stream_expires_at = CASE WHEN NOT v_stream THEN stream_expires_at ELSE NOW() + p_stream_ttl END,
        stream_size = p_stream_size, stream_ttl = p_stream_ttl, updated_at = NOW()
    WHERE channel = p_channel
    RETURNING top_offset INTO v_top;
    IF v_stream THEN
        RETURN v_top;
    END IF;
    RETURN 0;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION __P__publish(
    p_channel TEXT,
    p_key TEXT,
    p_data __D__,
    p_tags JSONB DEFAULT NULL,
    p_key_ttl INTERVAL DEFAULT NULL,
    p_meta_ttl INTERVAL DEFAULT NULL,
    p_key_mode TEXT DEFAULT NULL,
    p_expected_offset BIGINT DEFAULT NULL,
    p_expected_epoch TEXT DEFAULT NULL,
    p_key_version BIGINT DEFAULT NULL,
    p_key_version_epoch TEXT DEFAULT NULL,
    p_idempotency_key TEXT DEFAULT NULL,
    p_idempotency_ttl INTERVAL DEFAULT NULL,
    p_use_delta BOOLEAN DEFAULT FALSE,
    p_client_id TEXT DEFAULT NULL,
    p_user_id TEXT DEFAULT NULL,
    p_conn_info __D__ DEFAULT NULL,
    p_chan_info __D__ DEFAULT NULL,
    p_refresh_ttl_on_suppress BOOLEAN DEFAULT FALSE,
    p_num_shards INTEGER DEFAULT NULL,
    p_stream_size INTEGER DEFAULT NULL,
    p_stream_ttl INTERVAL DEFAULT NULL
) RETURNS TABLE(
    result_id BIGINT,
    channel_offset BIGINT,
    epoch TEXT,
    suppressed BOOLEAN,
    suppress_reason TEXT,
    current_data __D__,
    current_offset BIGINT
) AS $$
DECLARE
    m __P__meta;
    s __P__state;
    v_found BOOLEAN;
    v_shard INTEGER;
    v_size INTEGER;
    v_ttl INTERVAL;
    v_offset BIGINT;
    v_id BIGINT;
    v_prev __D__;
    v_tags JSONB := NULLIF(p_tags, '{}'::jsonb);
    v_idem_offset BIGINT;
    v_idem_epoch TEXT;
BEGIN
    IF p_key IS NULL OR p_key = '' THEN
        RAISE EXCEPTION '__P__publish: key must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_meta_ttl IS NOT NULL AND p_key_ttl IS NULL THEN
        RAISE EXCEPTION 'meta_ttl must be NULL (permanent) when key_ttl is NULL (permanent keys)';
    END IF;
    IF p_meta_ttl IS NOT NULL AND p_meta_ttl < p_key_ttl THEN
        RAISE EXCEPTION 'meta_ttl must be >= key_ttl (metadata must outlive keys)';
    END IF;
    v_shard := __P__shard(p_channel, p_num_shards);
    PERFORM 1 FROM __P__shard_lock WHERE shard_id = v_shard FOR UPDATE;
    m := __P__lock_meta(p_channel, p_meta_ttl, TRUE);
    v_size := COALESCE(p_stream_size, m.stream_size);
    v_ttl := COALESCE(p_stream_ttl, m.stream_ttl);

    -- Checks in order: idempotency, version, key mode, expected position.
    IF p_idempotency_key IS NOT NULL THEN
        SELECT i.result_offset, i.result_epoch INTO v_idem_offset, v_idem_epoch FROM __P__idempotency i
        WHERE i.channel = p_channel AND i.idempotency_key = p_idempotency_key AND i.expires_at > NOW();
        IF FOUND THEN
            RETURN QUERY SELECT NULL::BIGINT, v_idem_offset, v_idem_epoch, TRUE, 'idempotency'::TEXT, NULL::__D__, NULL::BIGINT;
            RETURN;
        END IF;
    END IF;
    SELECT * INTO s FROM __P__state st WHERE st.channel = p_channel AND st.key = p_key FOR UPDATE;
    v_found := FOUND;
    IF p_key_version IS NOT NULL AND p_key_version > 0 AND v_found AND COALESCE(s.key_version, 0) > 0
       AND (p_key_version_epoch IS NULL OR p_key_version_epoch = '' OR p_key_version_epoch = s.key_version_epoch)
       AND p_key_version <= s.key_version THEN
        RETURN QUERY SELECT NULL::BIGINT, m.top_offset, m.epoch, TRUE, 'version'::TEXT, NULL::__D__, NULL::BIGINT;
        RETURN;
    END IF;
    IF p_key_mode = 'if_new' AND v_found THEN
        IF p_refresh_ttl_on_suppress AND p_key_ttl IS NOT NULL THEN
            UPDATE __P__state st SET expires_at = NOW() + p_key_ttl, updated_at = NOW()
            WHERE st.channel = p_channel AND st.key = p_key;
        END IF;
        RETURN QUERY SELECT NULL::BIGINT, m.top_offset, m.epoch, TRUE, 'key_exists'::TEXT, NULL::__D__, NULL::BIGINT;
        RETURN;
    END IF;
    IF p_key_mode = 'if_exists' AND NOT v_found THEN
        RETURN QUERY SELECT NULL::BIGINT, m.top_offset, m.epoch, TRUE, 'key_not_found'::TEXT, NULL::__D__, NULL::BIGINT;
        RETURN;
    END IF;
    IF p_expected_offset IS NOT NULL AND (NOT v_found OR s.key_offset <> p_expected_offset
       OR (p_expected_epoch IS NOT NULL AND m.epoch <> p_expected_epoch)) THEN
        RETURN QUERY SELECT NULL::BIGINT, m.top_offset, m.epoch, TRUE, 'position_mismatch'::TEXT,
            CASE WHEN v_found THEN s.data END, CASE WHEN v_found THEN s.key_offset END;
        RETURN;
    END IF;

    v_offset := __P__advance(p_channel, v_size, v_ttl);
    IF p_use_delta AND v_found THEN
        v_prev := s.data;
    END IF;
    INSERT INTO __P__state AS st (channel, key, data, tags, client_id, user_id, conn_info, chan_info,
        key_version, key_version_epoch, key_offset, expires_at, updated_at)
    VALUES (p_channel, p_key, p_data, v_tags, p_client_id, p_user_id, p_conn_info, p_chan_info,
        p_key_version, NULLIF(p_key_version_epoch, ''), v_offset, NOW() + p_key_ttl, NOW())
    ON CONFLICT (channel, key) DO UPDATE SET
        data = EXCLUDED.data, tags = EXCLUDED.tags, client_id = EXCLUDED.client_id, user_id = EXCLUDED.user_id,
        conn_info = EXCLUDED.conn_info, chan_info = EXCLUDED.chan_info,
        -- An unversioned write keeps the stored version so late older versions stay suppressed.
        key_version = CASE WHEN EXCLUDED.key_version > 0 THEN EXCLUDED.key_version ELSE st.key_version END,
        key_version_epoch = CASE WHEN EXCLUDED.key_version > 0 THEN EXCLUDED.key_version_epoch ELSE st.key_version_epoch END,
        key_offset = EXCLUDED.key_offset, expires_at = EXCLUDED.expires_at, updated_at = NOW();
    INSERT INTO __P__stream AS x (channel, channel_offset, epoch, key, data, tags, client_id, user_id,
        conn_info, chan_info, prev_data, use_delta, shard_id)
    VALUES (p_channel, v_offset, m.epoch, p_key, p_data, v_tags, p_client_id, p_user_id,
        p_conn_info, p_chan_info, v_prev, COALESCE(p_use_delta, FALSE), v_shard)
    RETURNING x.id INTO v_id;
    IF p_idempotency_key IS NOT NULL THEN
        INSERT INTO __P__idempotency AS i (channel, idempotency_key, result_offset, result_epoch, result_id, expires_at)
        VALUES (p_channel, p_idempotency_key, v_offset, m.epoch, v_id, NOW() + COALESCE(p_idempotency_ttl, INTERVAL '5 minutes'))
        ON CONFLICT (channel, idempotency_key) DO UPDATE SET result_offset = EXCLUDED.result_offset,
            result_epoch = EXCLUDED.result_epoch, result_id = EXCLUDED.result_id, expires_at = EXCLUDED.expires_at;
    END IF;
    PERFORM pg_notify('__P__stream_notify', v_shard::TEXT);
    RETURN QUERY SELECT v_id, v_offset, m.epoch, FALSE, NULL::TEXT, NULL::__D__, NULL::BIGINT;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION __P__publish_strict(
    p_channel TEXT,
    p_key TEXT,
    p_data __D__,
    p_tags JSONB DEFAULT NULL,
    p_key_ttl INTERVAL DEFAULT NULL,
    p_meta_ttl INTERVAL DEFAULT NULL,
    p_key_mode TEXT DEFAULT NULL,
    p_expected_offset BIGINT DEFAULT NULL,
    p_expected_epoch TEXT DEFAULT NULL,
    p_key_version BIGINT DEFAULT NULL,
    p_key_version_epoch TEXT DEFAULT NULL,
    p_idempotency_key TEXT DEFAULT NULL,
    p_idempotency_ttl INTERVAL DEFAULT NULL,
    p_use_delta BOOLEAN DEFAULT FALSE,
    p_client_id TEXT DEFAULT NULL,
    p_user_id TEXT DEFAULT NULL,
    p_conn_info __D__ DEFAULT NULL,
    p_chan_info __D__ DEFAULT NULL,
    p_refresh_ttl_on_suppress BOOLEAN DEFAULT FALSE,
    p_num_shards INTEGER DEFAULT NULL,
    p_stream_size INTEGER DEFAULT NULL,
    p_stream_ttl INTERVAL DEFAULT NULL
) RETURNS TABLE(
    result_id BIGINT,
    channel_offset BIGINT,
    epoch TEXT
) AS $$
DECLARE
    r RECORD;
BEGIN
    SELECT * INTO r FROM __P__publish(p_channel, p_key, p_data, p_tags, p_key_ttl, p_meta_ttl, p_key_mode,
        p_expected_offset, p_expected_epoch, p_key_version, p_key_version_epoch, p_idempotency_key,
        p_idempotency_ttl, p_use_delta, p_client_id, p_user_id, p_conn_info, p_chan_info,
        p_refresh_ttl_on_suppress, p_num_shards, p_stream_size, p_stream_ttl);
    IF r.suppressed THEN
        CASE r.suppress_reason
            WHEN 'key_exists' THEN
                RAISE EXCEPTION '__P__publish: key already exists: %.%', p_channel, p_key USING ERRCODE = 'unique_violation';
            WHEN 'key_not_found' THEN
                RAISE EXCEPTION '__P__publish: key not found: %.%', p_channel, p_key USING ERRCODE = 'no_data_found';
            WHEN 'position_mismatch' THEN
                RAISE EXCEPTION '__P__publish: CAS conflict on %.%', p_channel, p_key
                    USING ERRCODE = 'serialization_failure', DETAIL = COALESCE(r.current_data::TEXT, '');
            WHEN 'version' THEN
                RAISE EXCEPTION '__P__publish: version conflict on %.%', p_channel, p_key USING ERRCODE = 'serialization_failure';
            WHEN 'idempotency' THEN
                RAISE EXCEPTION '__P__publish: duplicate idempotency key: %.%', p_channel, p_key USING ERRCODE = 'unique_violation';
            ELSE
                RAISE EXCEPTION '__P__publish: suppressed: %', r.suppress_reason;
        END CASE;
    END IF;
    RETURN QUERY SELECT r.result_id, r.channel_offset, r.epoch;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION __P__remove(
    p_channel TEXT,
    p_key TEXT,
    p_meta_ttl INTERVAL DEFAULT NULL,
    p_expected_offset BIGINT DEFAULT NULL,
    p_expected_epoch TEXT DEFAULT NULL,
    p_idempotency_key TEXT DEFAULT NULL,
    p_idempotency_ttl INTERVAL DEFAULT NULL,
    p_client_id TEXT DEFAULT NULL,
    p_user_id TEXT DEFAULT NULL,
    p_num_shards INTEGER DEFAULT NULL,
    p_tags JSONB DEFAULT NULL,
    p_stream_size INTEGER DEFAULT NULL,
    p_stream_ttl INTERVAL DEFAULT NULL
) RETURNS TABLE(
    result_id BIGINT,
    channel_offset BIGINT,
    epoch TEXT,
    suppressed BOOLEAN,
    suppress_reason TEXT,
    current_data __D__,
    current_offset BIGINT
) AS $$
DECLARE
    m __P__meta;
    s __P__state;
    v_shard INTEGER;
    v_offset BIGINT;
    v_id BIGINT;
    v_idem_offset BIGINT;
    v_idem_epoch TEXT;
BEGIN
    v_shard := __P__shard(p_channel, p_num_shards);
    PERFORM 1 FROM __P__shard_lock WHERE shard_id = v_shard FOR UPDATE;
    m := __P__lock_meta(p_channel, p_meta_ttl, FALSE);
    IF m.channel IS NULL THEN
        RETURN QUERY SELECT NULL::BIGINT, 0::BIGINT, ''::TEXT, TRUE, 'key_not_found'::TEXT, NULL::__D__, NULL::BIGINT;
        RETURN;
    END IF;
    IF p_idempotency_key IS NOT NULL THEN
        SELECT i.result_offset, i.result_epoch INTO v_idem_offset, v_idem_epoch FROM __P__idempotency i
        WHERE i.channel = p_channel AND i.idempotency_key = p_idempotency_key AND i.expires_at > NOW();
        IF FOUND THEN
            RETURN QUERY SELECT NULL::BIGINT, v_idem_offset, v_idem_epoch, TRUE, 'idempotency'::TEXT, NULL::__D__, NULL::BIGINT;
            RETURN;
        END IF;
    END IF;
    -- A key past its TTL is already gone for writers; the expiry pass announces its removal.
    SELECT * INTO s FROM __P__state st WHERE st.channel = p_channel AND st.key = p_key
        AND (st.expires_at IS NULL OR st.expires_at > NOW()) FOR UPDATE;
    IF p_expected_offset IS NOT NULL AND (s.key IS NULL OR s.key_offset <> p_expected_offset
       OR (p_expected_epoch IS NOT NULL AND m.epoch <> p_expected_epoch)) THEN
        RETURN QUERY SELECT NULL::BIGINT, m.top_offset, m.epoch, TRUE, 'position_mismatch'::TEXT, s.data, s.key_offset;
        RETURN;
    END IF;
    IF s.key IS NULL THEN
        RETURN QUERY SELECT NULL::BIGINT, m.top_offset, m.epoch, TRUE, 'key_not_found'::TEXT, NULL::__D__, NULL::BIGINT;
        RETURN;
    END IF;
    v_offset := __P__advance(p_channel, COALESCE(p_stream_size, m.stream_size), COALESCE(p_stream_ttl, m.stream_ttl));
    DELETE FROM __P__state st WHERE st.channel = p_channel AND st.key = p_key;
    INSERT INTO __P__stream AS x (channel, channel_offset, epoch, key, removed, client_id, user_id, tags, shard_id)
    VALUES (p_channel, v_offset, m.epoch, p_key, TRUE, p_client_id, p_user_id,
        NULLIF(CASE WHEN p_tags IS NULL THEN s.tags ELSE p_tags END, '{}'::jsonb), v_shard)
    RETURNING x.id INTO v_id;
    IF p_idempotency_key IS NOT NULL THEN
        INSERT INTO __P__idempotency AS i (channel, idempotency_key, result_offset, result_epoch, result_id, expires_at)
        VALUES (p_channel, p_idempotency_key, v_offset, m.epoch, v_id, NOW() + COALESCE(p_idempotency_ttl, INTERVAL '5 minutes'))
        ON CONFLICT (channel, idempotency_key) DO UPDATE SET result_offset = EXCLUDED.result_offset,
            result_epoch = EXCLUDED.result_epoch, result_id = EXCLUDED.result_id, expires_at = EXCLUDED.expires_at;
    END IF;
    PERFORM pg_notify('__P__stream_notify', v_shard::TEXT);
    RETURN QUERY SELECT v_id, v_offset, m.epoch, FALSE, NULL::TEXT, NULL::__D__, NULL::BIGINT;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION __P__remove_strict(
    p_channel TEXT,
    p_key TEXT,
    p_meta_ttl INTERVAL DEFAULT NULL,
    p_expected_offset BIGINT DEFAULT NULL,
    p_expected_epoch TEXT DEFAULT NULL,
    p_idempotency_key TEXT DEFAULT NULL,
    p_idempotency_ttl INTERVAL DEFAULT NULL,
    p_client_id TEXT DEFAULT NULL,
    p_user_id TEXT DEFAULT NULL,
    p_num_shards INTEGER DEFAULT NULL,
    p_tags JSONB DEFAULT NULL,
    p_stream_size INTEGER DEFAULT NULL,
    p_stream_ttl INTERVAL DEFAULT NULL
) RETURNS TABLE(
    result_id BIGINT,
    channel_offset BIGINT,
    epoch TEXT
) AS $$
DECLARE
    r RECORD;
BEGIN
    SELECT * INTO r FROM __P__remove(p_channel, p_key, p_meta_ttl, p_expected_offset, p_expected_epoch,
        p_idempotency_key, p_idempotency_ttl, p_client_id, p_user_id, p_num_shards, p_tags, p_stream_size, p_stream_ttl);
    IF r.suppressed THEN
        RAISE EXCEPTION '__P__remove: key not found: %.%', p_channel, p_key USING ERRCODE = 'no_data_found';
    END IF;
    RETURN QUERY SELECT r.result_id, r.channel_offset, r.epoch;
END;
$$ LANGUAGE plpgsql;

-- Removes keys past their TTL, at most p_batch_size in all, one channel at a time in shard
-- order (so concurrent callers take shard locks in the same order). Each removal is appended to
-- the stream (offset 0 for ephemeral channels) and so delivered like an explicit one. Keys of a
-- channel whose meta row is gone or idle past its TTL are dropped silently.
CREATE OR REPLACE FUNCTION __P__expire_keys(
    p_batch_size INT DEFAULT 1000,
    p_num_shards INTEGER DEFAULT NULL,
    p_meta_ttl INTERVAL DEFAULT NULL,
    p_channel TEXT DEFAULT NULL
) RETURNS TABLE(
    out_channel TEXT,
    out_key TEXT,
    out_offset BIGINT,
    out_epoch TEXT
) AS $$
DECLARE
    v_channel TEXT;
    v_shard INTEGER;
    m __P__meta;
    k RECORD;
    v_done INT := 0;
BEGIN
    FOR v_channel, v_shard IN
        SELECT c.channel, __P__shard(c.channel, p_num_shards) AS sh FROM (
            SELECT DISTINCT st.channel FROM __P__state st
            WHERE st.expires_at <= NOW() AND (p_channel IS NULL OR st.channel = p_channel)
        ) c ORDER BY sh, c.channel
    LOOP
        EXIT WHEN v_done >= p_batch_size;
        PERFORM 1 FROM __P__shard_lock WHERE shard_id = v_shard FOR UPDATE;
        m := __P__lock_meta(v_channel, p_meta_ttl, FALSE);
        IF m.channel IS NULL THEN
            DELETE FROM __P__state st WHERE st.channel = v_channel AND st.expires_at <= NOW();
            CONTINUE;
        END IF;
        FOR k IN
            SELECT st.key, st.tags FROM __P__state st
            WHERE st.channel = v_channel AND st.expires_at <= NOW()
            ORDER BY st.expires_at, st.key LIMIT p_batch_size - v_done FOR UPDATE
        LOOP
            out_offset := __P__advance(v_channel, m.stream_size, m.stream_ttl);
            DELETE FROM __P__state st WHERE st.channel = v_channel AND st.key = k.key;
            INSERT INTO __P__stream (channel, channel_offset, epoch, key, removed, tags, shard_id)
            VALUES (v_channel, out_offset, m.epoch, k.key, TRUE, k.tags, v_shard);
            out_channel := v_channel;
            out_key := k.key;
            out_epoch := m.epoch;
            v_done := v_done + 1;
            RETURN NEXT;
        END LOOP;
        PERFORM pg_notify('__P__stream_notify', v_shard::TEXT);
    END LOOP;
END;
$$ LANGUAGE plpgsql;
`;
