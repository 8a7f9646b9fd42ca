CREATE FUNCTION deliveries_notify_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM inserted) THEN
        PERFORM pg_notify('webhookd:' || TG_TABLE_SCHEMA, '');
    END IF;
    RETURN NULL;
END
$$;

--bun:split

CREATE TRIGGER deliveries_notify_inserted
    AFTER INSERT ON deliveries
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_notify_inserted();
