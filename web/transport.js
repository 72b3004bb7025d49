// Meshflow browser client: which transport this page uses (WebRTC or WebSocket), as pure functions
// (tests/browser/transport_decision.mjs runs them under node).
//
// The launcher answers GET /session-config?room=ROOM&user=USER with the session's decision for the
// user ({transport, bucket, rollout_percent, mode, ice_timeout_ms, reason}, docs/protocols.md).
// The page then uses WebSocket when:
// - the decision says "websocket" (session.transport: websocket, or outside the WebRTC rollout);
// - RTCPeerConnection is missing (WebRTC disabled or unsupported), unless the session forces WebRTC,
//   in which case the page cannot send media at all and says so;
// - ICE has not connected within ice_timeout_ms after the first peer connection was created
//   (mode auto only: see iceTimedOut);
// and WebRTC otherwise. ?transport=webrtc|websocket in the page URL overrides all of it (development).

export const DEFAULT_ICE_TIMEOUT_MS = 10000;
export const USER_KEY = 'meshflow.user';

/// The defaults used when /session-config cannot be reached (an older launcher, a static server).
export function defaultConfig(room, user) {
  return {
    room, user, transport: 'webrtc', bucket: null, rollout_percent: 100, mode: 'auto',
    ice_timeout_ms: DEFAULT_ICE_TIMEOUT_MS, source: 'default',
  };
}

/// Validate a /session-config answer; anything malformed -> the defaults (with `error`).
export function normaliseConfig(json, room, user) {
  const d = defaultConfig(room, user);
  if (!json || typeof json !== 'object') return { ...d, error: 'not a JSON object' };
  const transport = json.transport === 'websocket' || json.transport === 'webrtc' ? json.transport : null;
  if (!transport) return { ...d, error: `bad transport ${JSON.stringify(json.transport)}` };
  const mode = ['auto', 'webrtc', 'websocket'].includes(json.mode) ? json.mode : 'auto';
  const ice = Number(json.ice_timeout_ms);
  return {
    room: typeof json.room === 'string' ? json.room : room,
    user: typeof json.user === 'string' ? json.user : user,
    transport,
    bucket: Number.isInteger(json.bucket) ? json.bucket : null,
    rollout_percent: Number.isInteger(json.rollout_percent) ? json.rollout_percent : null,
    mode,
    ice_timeout_ms: ice > 0 ? ice : DEFAULT_ICE_TIMEOUT_MS,
    source: 'server',
  };
}

/// The transport to start with: {transport: 'webrtc'|'websocket'|'none', reason, canFallBack,
/// fallback?}. `fallback` ('no_webrtc') is set when the page uses WebSocket although the session
/// offered WebRTC; the page reports it (POST /session-config?...&fallback=) for the metrics.
/// `override` is the page's ?transport= ('' if none).
export function decideTransport(config, { hasRtc, override = '' }) {
  if (override === 'websocket') return { transport: 'websocket', reason: 'forced by ?transport=websocket', canFallBack: false };
  if (override === 'webrtc') {
    return hasRtc
      ? { transport: 'webrtc', reason: 'forced by ?transport=webrtc', canFallBack: false }
      : { transport: 'none', reason: 'forced by ?transport=webrtc but RTCPeerConnection is missing', canFallBack: false };
  }
  if (config.transport === 'websocket') {
    return {
      transport: 'websocket',
      reason: config.mode === 'websocket' ? 'session.transport: websocket'
        : `rollout: bucket ${config.bucket} is not below ${config.rollout_percent}%`,
      canFallBack: false,
    };
  }
  if (!hasRtc) {
    if (config.mode === 'webrtc') {
      return { transport: 'none', reason: 'session.transport: webrtc but RTCPeerConnection is missing', canFallBack: false };
    }
    return { transport: 'websocket', reason: 'RTCPeerConnection is missing', canFallBack: false, fallback: 'no_webrtc' };
  }
  return {
    transport: 'webrtc',
    reason: config.mode === 'webrtc' ? 'session.transport: webrtc'
      : config.source === 'default' ? 'default (no /session-config)'
        : `rollout: bucket ${config.bucket} < ${config.rollout_percent}%`,
    // Only auto mode falls back (session.transport: webrtc forbids it).
    canFallBack: config.mode === 'auto',
  };
}

/// ICE watchdog: true when the page should give up on WebRTC. `firstPeerAt` is when the first peer
/// connection was created (null: none yet, nothing to time), `connected` whether any peer's ICE
/// ever reached connected/completed.
export function iceTimedOut({ firstPeerAt, connected, now, timeoutMs }) {
  if (connected || firstPeerAt === null || firstPeerAt === undefined) return false;
  return now - firstPeerAt >= timeoutMs;
}

/// A stable user id: ?user= wins; else the one stored in `storage` (localStorage), created once.
export function stableUserId(queryUser, storage, random = Math.random) {
  if (queryUser) return queryUser;
  let id = null;
  try {
    id = storage?.getItem(USER_KEY) ?? null;
  } catch { /* storage disabled */ }
  if (!id) {
    id = `u-${random().toString(36).slice(2, 10)}${random().toString(36).slice(2, 6)}`;
    try {
      storage?.setItem(USER_KEY, id);
    } catch { /* storage disabled: the id lives as long as the page */ }
  }
  return id;
}
