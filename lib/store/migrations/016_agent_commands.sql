-- Controls taken on an instance that does not run the investor's agent (pause, resume, a new
-- mandate, a demo reset, the kill switch, a standing mandate to ask for or to forget): each is a
-- row here, written with the setting it changes, until the instance that holds the agent's lease
-- takes it (DELETE ... RETURNING) and applies it. A NOTIFY wakes that instance; the row is what
-- makes the control reach it when the NOTIFY does not (a relay connection down on either side).
CREATE TABLE agent_commands (
  id BIGSERIAL PRIMARY KEY,
  agent_id TEXT NOT NULL,
  command TEXT NOT NULL,
  mandate_id TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX agent_commands_agent ON agent_commands (agent_id, id);
