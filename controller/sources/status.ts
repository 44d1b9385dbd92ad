// The one way a source's status changes: `since` moves only when the state
// does, and the caller reports to its sink only when something changed.

import type { SourceState, SourceStatus } from './types.js';

/** Applies a state change to `st` in place; true when state or error changed. */
export function transition(st: SourceStatus, state: SourceState, lastError: string | undefined): boolean {
  const changed = state !== st.state || lastError !== st.lastError;
  if (state !== st.state) st.since = new Date();
  st.state = state;
  if (lastError === undefined) delete st.lastError;
  else st.lastError = lastError;
  return changed;
}
