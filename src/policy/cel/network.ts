/**
 * IP address and CIDR functions (Cerbos `inIPAddrRange` and the cel-go network extension: isIP, ip(), cidr(), ...).
 * Addresses are parsed by hand (no Node `net`) so this runs on Workers.
 */
import type { Environment } from '@marcbachmann/cel-js';

type Fn = (...args: never[]) => unknown;
type ErrCtor = new (msg: string) => Error;

/** A parsed address: 4 or 16 bytes. */
export class IPAddr {
  constructor(readonly bytes: Uint8Array, readonly text: string) {}
  get family(): 4 | 6 {
    return this.bytes.length === 4 ? 4 : 6;
  }
  toString(): string {
    return this.text;
  }
}
export class CIDR {
  constructor(readonly ip: IPAddr, readonly prefix: number, readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export function parseIPv4(s: string): Uint8Array | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] as string;
    if (!/^\d{1,3}$/.test(p) || (p.length > 1 && p[0] === '0')) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

export function parseIPv6(s: string): Uint8Array | undefined {
  if (s.includes('%')) return undefined; // zones are not supported
  let tail4: Uint8Array | undefined;
  let str = s;
  const lastColon = str.lastIndexOf(':');
  if (str.includes('.')) {
    tail4 = parseIPv4(str.slice(lastColon + 1));
    if (!tail4) return undefined;
    str = str.slice(0, lastColon + 1) + '0:0';
  }
  const dbl = str.indexOf('::');
  if (dbl !== str.lastIndexOf('::')) return undefined;
  const parse = (x: string): number[] | undefined => {
    if (x === '') return [];
    const groups = x.split(':');
    const out: number[] = [];
    for (const g of groups) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  let words: number[];
  if (dbl >= 0) {
    const head = parse(str.slice(0, dbl));
    const rest = parse(str.slice(dbl + 2));
    if (!head || !rest || head.length + rest.length > 7) return undefined;
    words = [...head, ...Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  } else {
    const all = parse(str);
    if (!all || all.length !== 8) return undefined;
    words = all;
  }
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[i * 2] = w >> 8;
    out[i * 2 + 1] = w & 0xff;
  });
  if (tail4) out.set(tail4, 12);
  return out;
}

export function parseIP(s: string): IPAddr | undefined {
  const b = s.includes(':') ? parseIPv6(s) : parseIPv4(s);
  return b ? new IPAddr(b, s) : undefined;
}

export function parseCIDR(s: string): CIDR | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIP(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(p)) return undefined;
  const prefix = Number(p);
  if (prefix > ip.bytes.length * 8) return undefined;
  return new CIDR(ip, prefix, s);
}

/** IPv4-mapped IPv6 (::ffff:a.b.c.d) is treated as its IPv4 address, as Go's net.IPNet.Contains does. */
function normalize(b: Uint8Array): Uint8Array {
  if (b.length === 16 && b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return b.slice(12);
  return b;
}

export function cidrContains(c: CIDR, ip: Uint8Array): boolean {
  const net = normalize(c.ip.bytes);
  const addr = normalize(ip);
  if (net.length !== addr.length) return false;
  let bits = c.prefix - (c.ip.bytes.length - net.length) * 8;
  if (bits < 0) bits = 0;
  for (let i = 0; i < net.length && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((net[i] as number) & mask) !== ((addr[i] as number) & mask)) return false;
  }
  return true;
}

function canonical(b: Uint8Array): string {
  if (b.length === 4) return b.join('.');
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((b[i] as number) << 8) | (b[i + 1] as number));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return hex.slice(0, bestStart).join(':') + '::' + hex.slice(bestStart + bestLen).join(':');
}

// long function: one table of the CEL network functions, one registration each, read top to bottom
export function registerNetwork(env: Environment, fn: (sig: string, h: Fn) => void, Err: ErrCtor): void {
  env.registerType('net.IP', IPAddr);
  env.registerType('net.IPNet', CIDR);
  class IPNamespace {}
  env.registerType('IPNamespace', IPNamespace);
  env.registerConstant('ip', 'IPNamespace', new IPNamespace());

  const mustIP = (s: string): IPAddr => {
    const ip = parseIP(s);
    if (!ip) throw new Err(`invalid IP address ${JSON.stringify(s)}`);
    return ip;
  };
  const mustCIDR = (s: string): CIDR => {
    const c = parseCIDR(s);
    if (!c) throw new Err(`invalid CIDR ${JSON.stringify(s)}`);
    return c;
  };

  // Cerbos: "10.0.0.5".inIPAddrRange("10.0.0.0/8")
  fn('string.inIPAddrRange(string): bool', (ip: string, range: string) => cidrContains(mustCIDR(range), mustIP(ip).bytes));

  fn('isIP(string): bool', (s: string) => parseIP(s) !== undefined);
  fn('isCIDR(string): bool', (s: string) => parseCIDR(s) !== undefined);
  fn('ip(string): net.IP', (s: string) => mustIP(s));
  fn('cidr(string): net.IPNet', (s: string) => mustCIDR(s));
  fn('IPNamespace.isCanonical(string): bool', (_n: unknown, s: string) => canonical(mustIP(s).bytes) === s);
  fn('string(net.IP): string', (ip: IPAddr) => canonical(ip.bytes));
  fn('string(net.IPNet): string', (c: CIDR) => `${canonical(c.ip.bytes)}/${c.prefix}`);

  fn('net.IP.family(): int', (ip: IPAddr) => BigInt(ip.family));
  fn('net.IP.isLoopback(): bool', (ip: IPAddr) => {
    const b = normalize(ip.bytes);
    return b.length === 4 ? b[0] === 127 : b.every((x, i) => x === (i === 15 ? 1 : 0));
  });
  fn('net.IP.isUnspecified(): bool', (ip: IPAddr) => normalize(ip.bytes).every((x) => x === 0));
  fn('net.IP.isLinkLocalMulticast(): bool', (ip: IPAddr) => {
    const b = normalize(ip.bytes);
    return b.length === 4 ? b[0] === 224 && b[1] === 0 && b[2] === 0 : b[0] === 0xff && ((b[1] as number) & 0x0f) === 0x02;
  });
  fn('net.IP.isLinkLocalUnicast(): bool', (ip: IPAddr) => {
    const b = normalize(ip.bytes);
    return b.length === 4 ? b[0] === 169 && b[1] === 254 : b[0] === 0xfe && ((b[1] as number) & 0xc0) === 0x80;
  });
  fn('net.IP.isGlobalUnicast(): bool', (ip: IPAddr) => {
    const b = normalize(ip.bytes);
    if (b.every((x) => x === 0)) return false;
    if (b.length === 4) {
      if (b[0] === 127 || (b[0] as number) >= 224 || (b[0] === 169 && b[1] === 254)) return false;
      return !b.every((x) => x === 255);
    }
    if (b[0] === 0xff) return false; // multicast
    if (b[0] === 0xfe && ((b[1] as number) & 0xc0) === 0x80) return false; // link-local
    return !b.every((x, i) => x === (i === 15 ? 1 : 0)); // loopback
  });

  fn('net.IPNet.containsIP(string): bool', (c: CIDR, s: string) => cidrContains(c, mustIP(s).bytes));
  fn('net.IPNet.containsIP(net.IP): bool', (c: CIDR, ip: IPAddr) => cidrContains(c, ip.bytes));
  fn('net.IPNet.containsCIDR(string): bool', (c: CIDR, s: string) => {
    const o = mustCIDR(s);
    return o.prefix >= c.prefix && cidrContains(c, o.ip.bytes);
  });
  fn('net.IPNet.containsCIDR(net.IPNet): bool', (c: CIDR, o: CIDR) => o.prefix >= c.prefix && cidrContains(c, o.ip.bytes));
  fn('net.IPNet.prefixLength(): int', (c: CIDR) => BigInt(c.prefix));
  fn('net.IPNet.ip(): net.IP', (c: CIDR) => c.ip);
  /** true when the address carries no host bits, i.e. the CIDR is already a network mask. */
  fn('net.IPNet.isMask(): bool', (c: CIDR) => {
    const b = c.ip.bytes;
    let bits = c.prefix;
    for (let i = 0; i < b.length; i++, bits -= 8) {
      const keep = bits >= 8 ? 0xff : bits <= 0 ? 0 : (0xff << (8 - bits)) & 0xff;
      if (((b[i] as number) & ~keep & 0xff) !== 0) return false;
    }
    return true;
  });
  fn('net.IPNet.masked(): net.IPNet', (c: CIDR) => {
    const b = new Uint8Array(c.ip.bytes);
    let bits = c.prefix;
    for (let i = 0; i < b.length; i++, bits -= 8) {
      const keep = bits >= 8 ? 0xff : bits <= 0 ? 0 : (0xff << (8 - bits)) & 0xff;
      b[i] = (b[i] as number) & keep;
    }
    const ip = new IPAddr(b, canonical(b));
    return new CIDR(ip, c.prefix, `${ip.text}/${c.prefix}`);
  });
  env.registerOperator('net.IP == net.IP', (a: unknown, b: unknown) =>
    canonical(normalize((a as IPAddr).bytes)) === canonical(normalize((b as IPAddr).bytes)));
  env.registerOperator('net.IPNet == net.IPNet', (a: unknown, b: unknown) =>
    (a as CIDR).prefix === (b as CIDR).prefix && canonical((a as CIDR).ip.bytes) === canonical((b as CIDR).ip.bytes));
}
