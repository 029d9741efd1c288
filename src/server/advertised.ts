// Port and issuer agree (issue 12): the metadata advertises every endpoint under `baseUrl` (default: the issuer). When
// that is a plain-http URL on this machine, the server itself is what answers there, so it must listen on that port
// (and on a loopback or wildcard address); otherwise discovery by issuer finds nothing, or another process, and the
// advertised token endpoint is wrong. An https URL, or another host, is served through something in front (a proxy, a
// load balancer) whose port may differ: nothing to check.

const LOOPBACK = /^(localhost|.*\.localhost|127(\.\d{1,3}){3}|\[::1\])$/i;
const WILDCARD = new Set(['0.0.0.0', '::', '[::]', '']);

export interface Listening {
  host: string;
  port: number;
}

/** Why the advertised endpoints would not reach a server listening at `listen`, or undefined when they do. */
export function advertisedEndpointProblem(config: { issuer: string; baseUrl?: string | undefined }, listen: Listening): string | undefined {
  const field = config.baseUrl !== undefined ? 'baseUrl' : 'issuer';
  const advertised = config.baseUrl ?? config.issuer;
  let url: URL;
  try {
    url = new URL(advertised);
  } catch {
    return undefined; // an issuer that is not a URL (e.g. a URN): endpoints come from baseUrl, checked when set
  }
  if (url.protocol !== 'http:' || !LOOPBACK.test(url.hostname)) return undefined;
  const port = url.port === '' ? 80 : Number(url.port);
  const fix = `set ${field} to http://${url.hostname}:${listen.port}${url.pathname === '/' ? '' : url.pathname} (and port: ${listen.port}), or serve on port ${port}`;
  if (port !== listen.port)
    return `${field} ${advertised} is on port ${port}, but the server would listen on port ${listen.port}: the metadata would advertise endpoints where nothing of this server answers. ${fix[0]!.toUpperCase()}${fix.slice(1)}.`;
  const host = listen.host.toLowerCase();
  if (!WILDCARD.has(host) && !LOOPBACK.test(host.includes(':') && !host.startsWith('[') ? `[${host}]` : host))
    return `${field} ${advertised} is on this machine's loopback address, but the server would listen on ${listen.host} only: the advertised endpoints would not reach it. Listen on 127.0.0.1 (or 0.0.0.0), or advertise a URL of ${listen.host}.`;
  return undefined;
}
