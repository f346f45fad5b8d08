import type { AudioState } from './source.js';

/**
 * The live source's audio as faults want it: each active audio fault holds an override under its id, and the
 * audio painter reads the combination on every frame. Silence wins over everything; shifts add up.
 */
export class SourceControl {
  private readonly overrides = new Map<string, Partial<AudioState>>();

  set(id: string, o: Partial<AudioState>): void {
    this.overrides.set(id, o);
  }

  clear(id: string): void {
    this.overrides.delete(id);
  }

  audio(): AudioState {
    let silent = false;
    let shiftMs = 0;
    for (const o of this.overrides.values()) {
      silent ||= o.silent === true;
      shiftMs += o.shiftMs ?? 0;
    }
    return { silent, shiftMs };
  }
}
