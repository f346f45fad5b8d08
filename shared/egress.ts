/**
 * Egress policy (SSRF guard): which URLs the fleet may fetch. One policy, applied by the API when a target,
 * sweep, schedule or watch is created, and by agents on every request they make (each redirect hop, and the
 * address a name resolves to at connect time, so DNS rebinding cannot swap a public name for an internal one).
 *
 * Default: http(s) only; no loopback, link-local, private, carrier-grade NAT, unique-local, multicast or
 * otherwise reserved address; no cloud metadata names. `egress.allow` (CIDRs and host globs) opens what a
 * deployment needs, e.g. `10.20.0.0/16,*.origin.internal`.
 */
import { lookup as dnsLookup } from 'node:dns';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/** Names that reach cloud instance metadata (the address is usually link-local, but not always by name). */
const METADATA_NAMES = [
  'metadata',
  'metadata.google.internal',
  'metadata.goog',
  'metadata.azure.com',
  'instance-data',
  'instance-data.ec2.internal',
  'metadata.tencentyun.com',
  'metadata.platformequinix.com',
];

export interface EgressVerdict {
  ok: boolean;
  /** Why a URL or address is refused (no secrets: the URL's query string is never included). */
  reason?: string;
}

export class EgressBlockedError extends Error {
  readonly code = 'EBLOCKEDBYPOLICY';
  constructor(readonly reason: string) {
    super(`blocked by egress policy: ${reason}`);
    this.name = 'EgressBlockedError';
  }
}

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** A rule of `egress.allow`: a CIDR (or a bare address) or a host glob (`*` matches within and across labels). */
export function parseAllowRule(rule: string): { cidr: Cidr } | { glob: RegExp } {
  const r = rule.trim();
  if (r.includes('/')) return { cidr: ipaddr.parseCIDR(r) as Cidr };
  if (ipaddr.isValid(r)) {
    const a = ipaddr.parse(r);
    return { cidr: [a, a.kind() === 'ipv4' ? 32 : 128] };
  }
  if (!/^[A-Za-z0-9*.-]+$/.test(r)) throw new Error(`not a CIDR or host glob: ${r}`);
  // Built from a validated charset: only literal characters and `.*`, so the pattern is linear.
  const body = r
    .toLowerCase()
    .split('*')
    .map((part) => part.replace(/\./g, '\\.'))
    .join('[a-z0-9.-]*');
  return { glob: new RegExp(`^${body}$`) };
}

/** True when `rule` is a valid allow rule (config validation). */
export function isAllowRule(rule: string): boolean {
  try {
    parseAllowRule(rule);
    return true;
  } catch {
    return false;
  }
}

const normalize = (a: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 =>
  a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress() ? (a as ipaddr.IPv6).toIPv4Address() : a;

export class EgressPolicy {
  private readonly cidrs: Cidr[] = [];
  private readonly globs: RegExp[] = [];

  /** `enforce: false` = everything goes (the `liveprobe probe` one-off run by the person at the keyboard). */
  constructor(
    allow: readonly string[] = [],
    readonly enforce = true,
  ) {
    for (const rule of allow) {
      const p = parseAllowRule(rule);
      if ('cidr' in p) this.cidrs.push(p.cidr);
      else this.globs.push(p.glob);
    }
  }

  static open(): EgressPolicy {
    return new EgressPolicy([], false);
  }

  /** Is this address allowed as a destination? */
  checkAddress(address: string): EgressVerdict {
    if (!this.enforce) return { ok: true };
    if (!ipaddr.isValid(address)) return { ok: false, reason: `not an IP address: ${address}` };
    const a = normalize(ipaddr.parse(address));
    for (const [net, bits] of this.cidrs) {
      if (net.kind() === a.kind() && a.match(net as never, bits)) return { ok: true };
    }
    const range = a.range();
    return range === 'unicast' ? { ok: true } : { ok: false, reason: `${range} address ${a.toString()}` };
  }

  private hostAllowed(host: string): boolean {
    return this.globs.some((g) => g.test(host));
  }

  /**
   * Checks what can be told from the URL alone: scheme, literal addresses, metadata and localhost names.
   * A name that resolves to a forbidden address is caught at connect time (lookup()).
   */
  checkUrl(raw: string): EgressVerdict {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      return { ok: false, reason: 'not a valid URL' };
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      // Even with the policy off nothing but http(s) is ever fetched.
      return { ok: false, reason: `scheme ${u.protocol} is not allowed (http and https only)` };
    }
    if (!this.enforce) return { ok: true };
    const host = u.hostname
      .toLowerCase()
      .replace(/^\[|\]$/g, '')
      .replace(/\.$/, '');
    if (this.hostAllowed(host)) return { ok: true };
    if (ipaddr.isValid(host)) {
      // WHATWG URL already canonicalised decimal / octal / hex IPv4 forms to dotted quads.
      return this.checkAddress(host);
    }
    if (host === 'localhost' || host.endsWith('.localhost'))
      return this.cidrAllows('127.0.0.1') ? { ok: true } : { ok: false, reason: `loopback name ${host}` };
    if (METADATA_NAMES.includes(host)) return { ok: false, reason: `cloud metadata name ${host}` };
    return { ok: true };
  }

  private cidrAllows(address: string): boolean {
    const a = ipaddr.parse(address);
    return this.cidrs.some(([net, bits]) => net.kind() === a.kind() && a.match(net as never, bits));
  }

  /** checkUrl, throwing EgressBlockedError. */
  assertUrl(raw: string): void {
    const v = this.checkUrl(raw);
    if (!v.ok) throw new EgressBlockedError(v.reason ?? 'refused');
  }

  /**
   * A `lookup` for net/http/https agents: resolves as usual, then refuses when a resolved address is not
   * allowed (unless the host itself is allowed by a glob). The check is on the address actually connected to.
   */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    const all = options.all === true;
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, all ? [] : '');
      if (this.enforce && !this.hostAllowed(hostname.toLowerCase())) {
        const bad = addresses.map((a) => this.checkAddress(a.address)).find((v) => !v.ok);
        if (bad)
          return callback(new EgressBlockedError(`${hostname} resolves to ${bad.reason}`), all ? [] : '');
      }
      if (all) return callback(null, addresses);
      const first = addresses[0];
      if (!first)
        return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '');
      callback(null, first.address, first.family);
    });
  };

  /** Resolves a host and checks every address (for clients that cannot take a custom lookup: Chromium). */
  async checkResolved(hostname: string): Promise<EgressVerdict> {
    if (!this.enforce || this.hostAllowed(hostname.toLowerCase())) return { ok: true };
    if (ipaddr.isValid(hostname.replace(/^\[|\]$/g, '')))
      return this.checkAddress(hostname.replace(/^\[|\]$/g, ''));
    return new Promise((resolve) => {
      dnsLookup(hostname, { all: true }, (err, addresses) => {
        // An unresolvable name is not ours to judge: the request fails on its own as a network error.
        if (err) return resolve({ ok: true });
        const bad = addresses.map((a) => this.checkAddress(a.address)).find((v) => !v.ok);
        resolve(bad ? { ok: false, reason: `${hostname} resolves to ${bad.reason}` } : { ok: true });
      });
    });
  }
}

/** The rules `demo` adds so the fleet can reach its own testbed on this machine. */
export const LOOPBACK_RULES = ['127.0.0.0/8', '::1/128', 'localhost'];

/** `a,b , c` -> ['a','b','c'] (LIVEPROBE_EGRESS_ALLOW). */
export const splitList = (v: unknown): unknown =>
  typeof v === 'string'
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : v;
