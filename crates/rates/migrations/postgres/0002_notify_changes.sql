-- Every statement that changes prices, ports or regions, whoever runs it (berth,
-- another replica, psql), sends NOTIFY rates_changed; PostgreSQL delivers it when the
-- transaction commits. berth's answers cache forgets what it holds on each one
-- (crates/rates/src/store/answers.rs).
CREATE OR REPLACE FUNCTION rates_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('rates_changed', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER prices_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON prices
    FOR EACH STATEMENT EXECUTE FUNCTION rates_changed();
CREATE OR REPLACE TRIGGER ports_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ports
    FOR EACH STATEMENT EXECUTE FUNCTION rates_changed();
CREATE OR REPLACE TRIGGER regions_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON regions
    FOR EACH STATEMENT EXECUTE FUNCTION rates_changed();
