/** A socket as far as holding its writes goes (a `net.Socket` or `tls.TLSSocket`). */
export interface CorkableSocket {
  cork?: () => void;
  uncork?: () => void;
}

/** Sockets whose outgoing bytes are held until the current synchronous run ends. */
const held = new WeakSet<object>();

/**
 * Holds what is written to `socket` until the code running now (and the microtasks queued before
 * this call) ends, so messages written one after another in that time leave in one write, not one
 * each. Each write is a system call and, on a loopback connection, also the receiver's wake-up and
 * receive path run in the caller. Node's cork is counted, so a driver's own cork nests inside this
 * one. Used for the Postgres connections (see holdWritesThisTick) and Redis (see coalesceWrites).
 */
export function holdSocketWritesThisTick(socket: CorkableSocket | undefined): void {
  if (socket?.cork === undefined || socket.uncork === undefined || held.has(socket)) return;
  held.add(socket);
  socket.cork();
  queueMicrotask(() => {
    held.delete(socket);
    socket.uncork?.();
  });
}
