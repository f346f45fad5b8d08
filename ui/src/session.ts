import { api, type Role, type Session } from './api.js';
import { Store } from './store.js';

/** Who the page is signed in as; auth off (demo on loopback) means everyone is admin. */
export const session = new Store<Session | undefined>(undefined);

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };
/** Whether the signed-in role may use a control (the API enforces it again). */
export const can = (need: Role): boolean => {
  const s = session.get();
  return !!s && RANK[s.role] >= RANK[need];
};

export async function loadSession(): Promise<Session | undefined> {
  try {
    const s = await api<Session>('/v1/session');
    session.set(s);
    return s;
  } catch {
    session.set(undefined);
    return undefined;
  }
}
