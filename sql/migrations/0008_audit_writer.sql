-- The one writer of audit_entries. Every statement that appends entries (one, or a batch in
-- the same statement as its action) calls this function, so the column list lives here once.
-- Element i of every array belongs to entry i; each entry's jurisdictions travel as JSON array
-- text, since SQL arrays cannot be ragged. Entries are inserted in the arrays' order.
--
-- SECURITY DEFINER: it runs with the migrating role's rights, so the application role may
-- append only through it (its direct INSERT is revoked below); search_path is pinned so no
-- caller can substitute a table or function of its own.
CREATE FUNCTION append_audit_entries(
  kinds text[], ats timestamptz[], jurisdictions text[], partner_ids text[], subjects text[],
  categories text[], outcomes text[], entries text[]
) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  appended integer;
BEGIN
  INSERT INTO public.audit_entries (kind, at, jurisdictions, partner_id, subject, category,
                                    outcome, entry)
  SELECT e.kind, e.at, ARRAY(SELECT jsonb_array_elements_text(e.jurisdictions::jsonb)),
         e.partner_id, e.subject, e.category, e.outcome, e.entry
  FROM unnest(kinds, ats, jurisdictions, partner_ids, subjects, categories, outcomes, entries)
       WITH ORDINALITY AS e(kind, at, jurisdictions, partner_id, subject, category, outcome,
                            entry, n)
  ORDER BY e.n;
  GET DIAGNOSTICS appended = ROW_COUNT;
  RETURN appended;
END
$$;

REVOKE ALL ON FUNCTION append_audit_entries(text[], timestamptz[], text[], text[], text[],
  text[], text[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION append_audit_entries(text[], timestamptz[], text[], text[], text[],
  text[], text[], text[]) TO marketplace_app;
REVOKE INSERT ON audit_entries FROM marketplace_app;
