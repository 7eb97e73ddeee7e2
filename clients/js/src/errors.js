/**
 * The client's errors, one root:
 *
 *     RoostError          code, retryable: every failure the client reports
 *     ├── RpcError        a call failed: the server's error reply, or the client gave up on it
 *     └── ProtocolError   a frame from the server broke the protocol; closeCode says how
 *
 * Values outside roost's data model are refused with a TypeError, and values over a limit
 * with a RangeError, when the call is made: those are bugs in the caller, not failures.
 */

/** Codes a call can fail with besides the server's own (bad_request, not_found, ...). */
export const CLIENT_CODES = Object.freeze({
  UNAVAILABLE: "unavailable", // the connection was lost or is down (retryable)
  TIMEOUT: "timeout", // no reply within callTimeout (retryable, as in the Python client)
  CLOSED: "closed", // the client was closed, or the server said not to reconnect
});

export class RoostError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {{retryable?: boolean, closeCode?: number}} [extra]
   */
  constructor(code, message, { retryable = false, closeCode } = {}) {
    super(message);
    this.name = "RoostError";
    this.code = code;
    this.retryable = retryable;
    if (closeCode !== undefined) this.closeCode = closeCode;
  }
}

export class RpcError extends RoostError {
  /**
   * Retryable are `unavailable` (as protocol.md says, such a call may or may not have taken
   * effect, and retrying it may succeed) and the client's `timeout` (the same holds).
   *
   * @param {string} code
   * @param {string} message
   * @param {{closeCode?: number}} [extra]
   */
  constructor(code, message, { closeCode } = {}) {
    super(code, message, { retryable: code === CLIENT_CODES.UNAVAILABLE || code === CLIENT_CODES.TIMEOUT, closeCode });
    this.name = "RpcError";
  }
}

export class ProtocolError extends RoostError {
  /**
   * @param {number} closeCode 1003, 1007 or 1009, as in protocol.md's table of refusals
   * @param {string} message
   */
  constructor(closeCode, message) {
    super("protocol", message, { closeCode });
    this.name = "ProtocolError";
  }
}
