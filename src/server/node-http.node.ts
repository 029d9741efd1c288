/**
 * The TTS's HTTP on Node: the body read straight from the socket, and the graceful drain of a server (issue 10
 * finding 6). Node-only (node:http, node:net, Buffer); the app itself is the same on every runtime (app.ts).
 */
import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import { bodyTooLarge, MAX_BODY_BYTES, readFetchBody } from './app.js';

/**
 * Reads the body straight from Node's IncomingMessage (no Fetch Request, no web stream), at most MAX_BODY_BYTES.
 * Falls back to the Fetch API when the app is not served by @hono/node-server (e.g. `app.fetch` in tests).
 */
export async function readNodeBody(c: Context): Promise<string> {
  const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
  if (incoming === undefined) return readFetchBody(c);
  return readIncoming(incoming);
}

/** The body of a Node request as text, at most MAX_BODY_BYTES (else an OAuthError 413; the rest is drained). */
export function readIncoming(incoming: IncomingMessage): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        cleanup();
        incoming.resume(); // drain the rest without keeping it
        reject(bodyTooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, size).toString('utf8'));
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const cleanup = () => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
    };
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
  });
}

export interface DrainResult {
  /** how long the drain took, ms */
  elapsedMs: number;
  /** connections still open at the deadline, closed with their request unfinished */
  forced: number;
}

/**
 * A connection's responses in flight: the first in a field, more (pipelined requests) in a set made only then, so that
 * a request adds no set entry (one request at a time is what keep-alive clients send).
 */
interface InFlight {
  first: ServerResponse | undefined;
  more: Set<ServerResponse> | undefined;
  /** the response of the request read last (answered last: Node answers a connection's requests in order) */
  last: ServerResponse | undefined;
}
interface Tracker {
  /** open connections and their responses in flight */
  sockets: Map<Socket, InFlight>;
  draining: boolean;
}
const trackers = new WeakMap<HttpServer, Tracker>();

function trackerOf(server: HttpServer): Tracker {
  let t = trackers.get(server);
  if (t === undefined) {
    t = { sockets: new Map(), draining: false };
    trackers.set(server, t);
  }
  return t;
}

/**
 * Graceful shutdown of an HTTP server: stops accepting connections; idle keep-alive connections are ended at once,
 * busy ones as soon as their last response is sent: every request already read on them (pipelined ones too, and one
 * read during the drain) is answered, the last answer with `Connection: close` where its headers are not out yet; at
 * `graceMs` every connection still open is destroyed, however slow its client, so a shutdown always ends. Connections
 * are ended gracefully (FIN after the response bytes), never destroyed while a finished response may still sit in the
 * socket's buffer (which node's own closeIdleConnections does). `say` gets one line when the drain starts and one when
 * it ends; `now()` ends the drain at once (a second signal).
 */
export function drainServer(server: HttpServer, graceMs: number, say: (m: string) => void): { done: Promise<DrainResult>; now(): void } {
  const t = trackerOf(server);
  const started = Date.now();
  t.draining = true;
  say(`drain started: no new connections; ${t.sockets.size} open connection(s) get up to ${graceMs} ms to finish`);
  let finish: () => void = () => {};
  const done = new Promise<DrainResult>((resolve) => {
    let ended = false;
    let forced = 0;
    const end = (): void => {
      if (ended) return;
      ended = true;
      clearTimeout(deadline);
      const r = { elapsedMs: Date.now() - started, forced };
      say(`drain ended after ${r.elapsedMs} ms: ${forced === 0 ? 'every request finished' : `${forced} connection(s) closed with a request unfinished`}`);
      resolve(r);
    };
    finish = (): void => {
      if (ended) return;
      forced = t.sockets.size;
      for (const socket of t.sockets.keys()) socket.destroy();
      end();
    };
    endIdleConnections(t);
    // net.Server's close: stop listening, call back once the last connection has closed (http.Server's own close
    // would first destroy the connections it deems idle)
    NetServer.prototype.close.call(server, () => end());
    const deadline = setTimeout(finish, graceMs);
    if (t.sockets.size === 0) end();
  });
  return { done, now: () => finish() };
}

/**
 * Idle connections end now; on a busy one the last response in flight is told `Connection: close` if its headers are
 * not out yet. Only the last: Node ends a connection after a response that says `close`, so told to an earlier one,
 * the pipelined requests behind it, already read, would never be answered.
 */
function endIdleConnections(t: Tracker): void {
  for (const [socket, inflight] of t.sockets) {
    if (busy(inflight) === 0) socket.end();
    else if (inflight.last !== undefined) tellClose(inflight.last);
  }
}

/** Responses the drain told `Connection: close` (not the application: its own header is never taken back). */
const toldClose = new WeakSet<ServerResponse>();

function tellClose(res: ServerResponse): void {
  if (res.headersSent || res.hasHeader('Connection')) return;
  res.setHeader('Connection', 'close');
  toldClose.add(res);
}

/** A request read behind `res` during a drain: `res` is no longer the last, the drain's `close` moves on. */
function untellClose(res: ServerResponse): void {
  if (!toldClose.has(res) || res.headersSent) return;
  res.removeHeader('Connection');
  toldClose.delete(res);
}

function busy(inflight: InFlight): number {
  return (inflight.first === undefined ? 0 : 1) + (inflight.more?.size ?? 0);
}

/** Tracks connections and responses in flight from the start, so that a drain knows which connections are busy. */
export function trackConnections(server: HttpServer): void {
  const t = trackerOf(server);
  server.on('connection', (s: Socket) => {
    t.sockets.set(s, { first: undefined, more: undefined, last: undefined });
    s.once('close', () => t.sockets.delete(s));
  });
  // one listener for every response of the server (`this` is the response): no closure per request
  function closed(this: ServerResponse): void {
    const socket = this.req.socket;
    const inflight = t.sockets.get(socket);
    if (inflight === undefined) return; // the connection closed first
    if (inflight.first === this) inflight.first = undefined;
    else inflight.more?.delete(this);
    if (inflight.last === this) inflight.last = undefined;
    if (t.draining && busy(inflight) === 0) socket.end();
  }
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const inflight = t.sockets.get(req.socket);
    if (inflight === undefined) return;
    if (inflight.first === undefined) inflight.first = res;
    else (inflight.more ??= new Set()).add(res);
    if (t.draining) {
      // the last request read is the one whose answer closes the connection (a close already sent is final:
      // RFC 9112 §9.6, no request after it is processed)
      if (inflight.last !== undefined) untellClose(inflight.last);
      tellClose(res);
    }
    inflight.last = res;
    res.on('close', closed);
  });
}
