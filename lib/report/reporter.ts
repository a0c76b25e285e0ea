/** Picks the terminal or the plain report; both get every event. */
import type { Io } from '../base/io.js';
import type { EngineEvent } from '../engine/events.js';
import { eventLine } from './plain.js';
import { TerminalReport } from './terminal.js';

export function makeReporter(io: Io, extra?: (e: EngineEvent) => void): { emit: (e: EngineEvent) => void; close: () => void } {
  if (io.isTTY) {
    const t = new TerminalReport((s) => io.out(s));
    return { emit: (e) => { extra?.(e); t.handle(e); }, close: () => t.close() };
  }
  return {
    emit: (e) => { extra?.(e); const l = eventLine(e); if (l !== undefined) io.out(l + '\n'); },
    close: () => {},
  };
}
