-- A decision about a customer is recorded once, as its `access.decision` audit entry (which
-- now carries `window_start`): the customer's access log, the regulators' log and the deletion
-- obligations' count of what was released read it there, through the customer's pseudonym.
-- Writing a decisions row beside it on every partner read was a second copy of the same fact
-- (issue 17). From here on the decisions table holds what has no entry: decisions about an id
-- that names no customer (the operator's trace of partners guessing ids), and every decision
-- recorded before this migration, whose rows stay (`released` reads their window_start).
COMMENT ON TABLE decisions IS
  'decisions with no audit entry: about an id that names no customer, or recorded before 0084';
