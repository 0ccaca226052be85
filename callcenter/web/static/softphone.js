// The operator's WebRTC softphone (JsSIP over a SIP WebSocket to Asterisk's PJSIP). The dashboard imports it
// and calls startSoftphone() after the login; everything it shows lives in the #phone-card section.
//
// One call at a time: idle -> ringing -> talking -> wrap-up -> idle. The SIP password comes from
// /api/softphone/account (the operator's own session, never the page's source); one tab per operator holds the
// line (/api/softphone/line, renewed while the tab lives). The ring (tone, title, notification) is
// softphone-ring.js; the pre-flight probes and device lists are softphone-checks.js.

import JsSIP from "/static/vendor/jssip.min.js";
import { gatherCandidates, iceProblem, listDevices, microphoneProblem } from "./softphone-checks.js";
import { askNotificationPermission, notify, startRing, stopRing } from "./softphone-ring.js";

const TEXT = {
  ru: {
    phone: "Телефон", off: "не зарегистрирован", connecting: "подключение…", ready: "готов", ringing: "звонок",
    talking: "разговор", on_hold: "на удержании", wrapup: "обработка", answer: "Ответить", reject: "Отклонить",
    hangup: "Завершить", mute: "Выключить микрофон", unmute: "Включить микрофон", hold: "Удержание",
    unhold: "Снять с удержания", keypad: "Клавиатура", transfer_to: "Перевести на номер", transfer: "Перевести",
    quick: "Быстрый перевод", incoming: "Входящий звонок", callback_call: "Обратный звонок по заявке",
    queue_call: "Звонок из очереди", unknown: "Номер скрыт", cases: "Дела по номеру (не проверено)",
    no_cases: "Дел по номеру нет.", wrapup_title: "После звонка", disposition: "Итог звонка", note: "Заметка",
    save: "Сохранить и продолжить", seconds_left: "Осталось", s: "с", settings: "Настройки телефона",
    auto_answer: "Отвечать автоматически", microphone: "Микрофон", output: "Наушники / динамик",
    default_device: "По умолчанию", check: "Проверить связь", check_mic: "Доступ к микрофону",
    check_ws: "Соединение с АТС (WebSocket)", check_ice: "Сеть для звука (ICE)", ok: "в порядке",
    mic_denied: "браузер не дал доступ к микрофону: разрешите его в настройках сайта",
    mic_none: "микрофон не найден: подключите гарнитуру", ws_down: "нет соединения с АТС: сообщите администратору",
    ice_none: "браузер не нашёл сетевых адресов для звука: проверьте сеть или настройки STUN/TURN",
    ice_no_relay: "нет адреса через STUN/TURN: звонки из внешней сети могут быть без звука",
    second_tab: "Телефон уже открыт в другой вкладке или браузере. Здесь он не регистрируется: закройте ту вкладку, и этот телефон включится сам.",
    dropped: "Связь с АТС потеряна. Переподключаемся…", restored: "Связь с АТС восстановлена, телефон снова на линии.",
    reg_failed: "АТС не приняла регистрацию", missed: "Пропущен звонок", paused_missed: "Вы на паузе «не отвечает». Нажмите «Продолжить» в разделе «Я», когда будете готовы.",
    not_configured: "Телефон в браузере не настроен", transferred: "Звонок переведён на", transfer_failed: "Перевод не удался",
    saved: "Итог звонка сохранён.", shortcuts: "Клавиши: Alt+A ответить, Alt+M микрофон, Alt+H удержание, Alt+T перевод, Alt+X завершить или отклонить",
    after_call_reason: "Поствызывная обработка", not_responding: "Не отвечает",
    caller_gone: "Звонящий положил трубку, не дождавшись ответа",
    recovering: "Сеть изменилась: восстанавливаем звук разговора, не кладите трубку…",
    call_restored: "Звук разговора восстановлен.",
  },
  en: {
    phone: "Phone", off: "not registered", connecting: "connecting…", ready: "ready", ringing: "ringing",
    talking: "talking", on_hold: "on hold", wrapup: "wrap-up", answer: "Answer", reject: "Reject",
    hangup: "Hang up", mute: "Mute", unmute: "Unmute", hold: "Hold", unhold: "Resume", keypad: "Keypad",
    transfer_to: "Transfer to number", transfer: "Transfer", quick: "Quick connects", incoming: "Incoming call",
    callback_call: "Callback request", queue_call: "Queue call", unknown: "Withheld number",
    cases: "Cases by number (not verified)", no_cases: "No cases for this number.", wrapup_title: "After the call",
    disposition: "Disposition", note: "Note", save: "Save and continue", seconds_left: "Left", s: "s",
    settings: "Phone settings", auto_answer: "Answer automatically", microphone: "Microphone",
    output: "Headset / speaker", default_device: "Default", check: "Check connection", check_mic: "Microphone access",
    check_ws: "PBX connection (WebSocket)", check_ice: "Network for audio (ICE)", ok: "OK",
    mic_denied: "the browser refused the microphone: allow it in the site settings",
    mic_none: "no microphone found: plug in a headset", ws_down: "no connection to the PBX: tell the administrator",
    ice_none: "the browser found no network address for audio: check the network or STUN/TURN settings",
    ice_no_relay: "no STUN/TURN address: calls from outside may have no audio",
    second_tab: "The phone is open in another tab or browser. It does not register here: close that tab and this one takes over.",
    dropped: "Lost the PBX connection. Reconnecting…", restored: "PBX connection restored; the phone is back on the line.",
    reg_failed: "The PBX refused the registration", missed: "Missed call", paused_missed: "You are paused as \"not responding\". Press Resume under Me when ready.",
    not_configured: "The browser phone is not configured", transferred: "Call transferred to", transfer_failed: "Transfer failed",
    saved: "Wrap-up saved.", shortcuts: "Keys: Alt+A answer, Alt+M mute, Alt+H hold, Alt+T transfer, Alt+X hang up or reject",
    after_call_reason: "After-call work", not_responding: "Not responding",
    caller_gone: "The caller hung up before the answer",
    recovering: "The network changed: recovering the call's audio, stay on the line…",
    call_restored: "The call's audio is back.",
  },
};

// Reasons sent to the PBX stay in Russian whatever the page's language: supervisors read them in reports.
const PAUSE_AFTER_CALL = TEXT.ru.after_call_reason;
const PAUSE_NOT_RESPONDING = TEXT.ru.not_responding;
const ICE_GATHERING_MS = 1000;
const DTMF_KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];
// How long the PBX has to answer a probe (SIP OPTIONS) on the WebSocket before the connection counts as dead.
const PROBE_MS = 2000;

// JsSIP's WebSocket, with a way to give up on it. After a network change its TCP connection can hang with its
// local address gone: no close event comes for many minutes, and JsSIP would send into it (a re-INVITE there
// times out after 32 s and JsSIP ends the call). drop() closes it and tells JsSIP, which reconnects and
// registers again as after any drop.
class Socket extends JsSIP.WebSocketInterface {
  drop() {
    if (!this.isConnected() && !this.isConnecting()) return;
    this.disconnect();
    this.ondisconnect(true, 1006, "network change");
  }
}

const sp = {
  lang: "ru", api: null, hooks: {}, account: null, ua: null, session: null, phase: "off", tab: randomId(),
  lineTimer: null, hadRegistration: false, dropped: false, registrations: 0, caller: null, answeredAt: 0,
  socket: null, recovering: false, reinviteSent: false, reinviteAnswered: false, iceRestarts: 0,
  startedAt: 0, timer: null, wrapupTimer: null, wrapupLeft: 0,
  muted: false, held: false, messageKey: "", messageExtra: "", started: false, lastCall: null, wrapupPaused: false,
};
const $ = (id) => document.getElementById(id);
const t = (key) => TEXT[sp.lang][key] ?? key;
const esc = (value) => String(value ?? "").replace(/[&<>"']/g,
  (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

function randomId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// -- public -------------------------------------------------------------------------------------------------

export async function startSoftphone({ api, lang, hooks }) {
  sp.api = api;
  sp.lang = lang;
  sp.hooks = hooks || {};
  if (sp.started) return;
  try {
    sp.account = await api("GET", "/api/softphone/account");
  } catch (error) {
    $("phone-card").hidden = !(error.status === 409 && error.data?.error === "softphone_unavailable");
    if (!$("phone-card").hidden) say("not_configured", `: ${error.data.detail}`);
    return;
  }
  sp.started = true;
  $("phone-card").hidden = false;
  buildControls();
  render();
  await claimLine();
}

export async function stopSoftphone() {
  clearInterval(sp.lineTimer);
  sp.lineTimer = null;
  if (sp.session) sp.session.terminate();
  if (sp.ua) sp.ua.stop();
  sp.ua = null;
  if (sp.started) await sp.api("POST", "/api/softphone/line/release", { tab: sp.tab }).catch(() => {});
  sp.started = false;
  sp.phase = "off";
  $("phone-card").hidden = true;
}

export function setSoftphoneLanguage(lang) {
  sp.lang = lang;
  for (const node of document.querySelectorAll("#phone-card [data-sp]")) node.textContent = t(node.dataset.sp);
  if (sp.messageKey) say(sp.messageKey, sp.messageExtra);
  if (sp.account) buildControls();
  render();
}

// -- the line: one tab per operator ---------------------------------------------------------------------------

async function claimLine() {
  try {
    await sp.api("POST", "/api/softphone/line", { tab: sp.tab });
  } catch (error) {
    if (error.status === 409) {
      // The lease was lost (another tab took the line while this one was asleep or offline): stop registering
      // here, so the operator never has two phones ringing.
      if (sp.ua) { sp.ua.stop(); sp.ua = null; }
      sp.phase = "second_tab";
      say("second_tab");
      render();
      // Take over by itself once the other tab lets the line go (closed, logged out, its lease ran out).
      if (!sp.lineTimer) sp.lineTimer = setInterval(claimLine, sp.account.line_renew_seconds * 1000);
      return;
    }
    throw error;
  }
  if (sp.phase === "second_tab") say("");
  if (!sp.lineTimer) sp.lineTimer = setInterval(claimLine, sp.account.line_renew_seconds * 1000);
  if (!sp.ua) register();
}

window.addEventListener("pagehide", () => {
  if (!sp.started || !sp.api) return;
  sp.api("POST", "/api/softphone/line/release", { tab: sp.tab }, { keepalive: true }).catch(() => {});
});

// -- SIP -----------------------------------------------------------------------------------------------------

function register() {
  const a = sp.account;
  sp.socket = new Socket(a.websocket_url);
  sp.ua = new JsSIP.UA({
    sockets: [sp.socket], uri: a.uri, authorization_user: a.authorization_user, password: a.password,
    display_name: a.display_name, register: true, register_expires: 300, session_timers: false,
    // A dropped WebSocket is reconnected within seconds, not JsSIP's default of up to 30.
    connection_recovery_min_interval: 1, connection_recovery_max_interval: 8, user_agent: "hotline-softphone",
  });
  sp.phase = "connecting";
  sp.ua.on("connected", () => render());
  sp.ua.on("disconnected", () => {
    if (sp.hadRegistration && !sp.dropped) { sp.dropped = true; say(sp.recovering ? "recovering" : "dropped"); }
    sp.phase = sp.phase === "ready" ? "connecting" : sp.phase;
    render();
  });
  sp.ua.on("registered", () => {
    sp.registrations += 1;
    if (sp.dropped) { sp.dropped = false; say(sp.recovering ? "recovering" : "restored"); }
    sp.hadRegistration = true;
    if (sp.phase === "connecting" || sp.phase === "off") sp.phase = "ready";
    // Back after a drop mid-call: media does not go through the WebSocket, so restart ICE only if it broke too
    // (or a recovery was waiting for this registration to send its re-INVITE).
    const pc = sp.session?.connection;
    if (sp.recovering && !sp.reinviteSent) restartIce();
    else if (pc && ["disconnected", "failed"].includes(pc.iceConnectionState)) recoverCall();
    render();
  });
  sp.ua.on("unregistered", () => { if (sp.phase === "ready") sp.phase = "connecting"; render(); });
  sp.ua.on("registrationFailed", (e) => { say("reg_failed", `: ${e.cause}`); render(); });
  sp.ua.on("newRTCSession", (e) => { if (e.originator === "remote") incoming(e.session, e.request); });
  sp.ua.start();
  render();
}

function mediaConstraints() {
  const mic = localStorage.getItem("softphone.microphone");
  return { audio: mic ? { deviceId: { exact: mic } } : true, video: false };
}

function rtcConfig() {
  return { iceServers: sp.account.ice_servers };
}

function incoming(session, request) {
  if (sp.session || sp.phase === "wrapup") {  // one call at a time; app_queue does not ring a busy phone anyway
    session.terminate({ status_code: 486, reason_phrase: "Busy Here" });
    return;
  }
  sp.session = session;
  sp.caller = callerOf(session, request);
  sp.startedAt = Date.now();
  sp.answeredAt = 0;
  sp.muted = false;
  sp.held = false;
  $("sp-dtmf-sent").textContent = "";  // the digits sent belong to one call, not to the next caller's screen
  sp.phase = "ringing";
  say("");
  session.on("peerconnection", (e) => attachPeer(e.peerconnection));
  // JsSIP sends the answer only when ICE gathering has finished: an unreachable STUN/TURN server (or a network
  // interface coming and going) holds the resident in ringing for many seconds. A second after the first
  // candidate, what has been gathered goes (host and server-reflexive candidates come within milliseconds).
  let gathering = null;
  session.on("icecandidate", (e) => { gathering ??= setTimeout(e.ready, ICE_GATHERING_MS); });
  session.on("sdp", () => { clearTimeout(gathering); gathering = null; });
  session.on("confirmed", () => {
    sp.answeredAt = Date.now();
    sp.phase = "talking";
    stopRing();
    startTimer();
    render();
  });
  session.on("hold", () => render());
  session.on("unhold", () => render());
  session.on("ended", () => callEnded(true));
  session.on("failed", (e) => callEnded(false, e.cause));
  $("phone-card").dataset.ringTone = startRing(displayCaller(sp.caller), t("incoming"));
  render();
  lookUpCaller(sp.caller);
  if (localStorage.getItem("softphone.autoAnswer") === "1") answer();
}

function callerOf(session, request) {
  const header = (name) => request.getHeader(name) || "";
  const identity = session.remote_identity;
  const number = header("X-Hotline-Caller") || identity?.uri?.user || "";
  return { number, name: identity?.display_name || "", callback: header("X-Hotline-Callback"),
           uniqueid: header("X-Hotline-Uniqueid"), callId: request.call_id || "", cases: null, callbackInfo: null };
}

async function lookUpCaller(caller) {
  const lookups = [];
  if (/\d{5,}/.test(caller.number)) {
    lookups.push(sp.api("GET", `/api/cases?phone=${encodeURIComponent(caller.number)}`)
      .then((cases) => { caller.cases = cases; }).catch(() => { caller.cases = []; }));
  }
  if (caller.callback) {
    lookups.push(sp.api("GET", `/api/callbacks/${encodeURIComponent(caller.callback)}`)
      .then((cb) => { caller.callbackInfo = cb; }).catch(() => {}));
  }
  await Promise.all(lookups);
  if (caller !== sp.caller) return;
  render();
  sp.hooks.onCaller?.({ callerid: caller.number, cases: caller.cases || [] });
}

function attachPeer(pc) {
  pc.addEventListener("track", (event) => {
    const audio = $("sp-audio");
    audio.srcObject = event.streams[0] || new MediaStream([event.track]);
    applyOutput(audio);
    audio.play().catch(() => {});
  });
  // A short network change (Wi-Fi to cable, a VPN reconnect): restart ICE instead of losing the call.
  pc.addEventListener("iceconnectionstatechange", () => {
    if (["disconnected", "failed"].includes(pc.iceConnectionState)) recoverCall();
    else if (["connected", "completed"].includes(pc.iceConnectionState)) recovered();
  });
}

// The re-INVITE that restarts ICE must go out on a WebSocket that works: one sent into a hung connection ends
// the call after 32 s, and one in flight when the connection closes ends it at once (JsSIP ends the session on
// a transport error of its re-INVITE). So the PBX is asked first (OPTIONS); no answer, and the socket is
// dropped: JsSIP reconnects, registers, and the "registered" handler restarts ICE.
async function recoverCall() {
  const session = sp.session;
  if (!session?.isEstablished() || sp.recovering) return;
  sp.recovering = true;
  say("recovering");
  render();
  await checkSignalling();
  if (sp.ua?.isConnected()) restartIce();
}

// After a network change: does the WebSocket still carry SIP? A hung one is dropped, and JsSIP connects and
// registers again. Offline, it waits for the network first: a drop then would only grow JsSIP's back-off.
async function checkSignalling() {
  if (!navigator.onLine) await new Promise((resolve) => window.addEventListener("online", resolve, { once: true }));
  if (!(await signallingWorks())) sp.socket?.drop();
}

// The browser is back on a network (it was offline: a link down, another Wi-Fi): check at once rather than when
// ICE or a registration refresh notices, whether a call is on or not (an idle phone on a hung WebSocket looks
// registered on the page but cannot be rung).
window.addEventListener("online", () => {
  if (!sp.ua) return;
  if (sp.session?.isEstablished()) recoverCall(); else checkSignalling();
});

function signallingWorks() {
  return new Promise((resolve) => {
    if (!sp.ua?.isConnected()) { resolve(false); return; }
    const timer = setTimeout(() => resolve(false), PROBE_MS);
    const done = (works) => { clearTimeout(timer); resolve(works); };
    // Any answer will do (200, 404, 401...): it came back over the connection. No answer: a timeout or error.
    sp.ua.sendOptions(`sip:${sp.account.uri.split("@")[1]}`, null, { eventHandlers: {
      succeeded: () => done(true),
      failed: (e) => done(e.originator === "remote"),
    } });
  });
}

function restartIce() {
  const session = sp.session;
  if (!session || !session.isEstablished() || !sp.ua?.isConnected()) return;
  if (session.renegotiate({ rtcOfferConstraints: { iceRestart: true } }, () => recovered(true))) {
    sp.reinviteSent = true;
    sp.iceRestarts += 1;
    render();
  } else if (sp.recovering) {
    // Another offer (a hold) is still pending: try again once it is done.
    setTimeout(() => { if (sp.recovering && !sp.reinviteSent) restartIce(); }, 1000);
  }
}

// The call's audio is back once the restart's re-INVITE was answered and ICE connects again.
function recovered(answered = false) {
  if (!sp.recovering || !sp.session) return;
  if (answered) sp.reinviteAnswered = true;
  const state = sp.session.connection?.iceConnectionState;
  if (!sp.reinviteAnswered || !["connected", "completed"].includes(state)) return;
  sp.recovering = false;
  sp.reinviteSent = false;
  sp.reinviteAnswered = false;
  say("call_restored");
  render();
}

function answer() {
  if (!sp.session || sp.phase !== "ringing") return;
  sp.session.answer({ mediaConstraints: mediaConstraints(), pcConfig: rtcConfig() });
}

function hangUp() {
  if (sp.session) sp.session.terminate(sp.phase === "ringing" ? { status_code: 486, reason_phrase: "Busy Here" } : undefined);
}

function toggleMute() {
  if (!sp.session || sp.phase !== "talking") return;
  if (sp.session.isMuted().audio) sp.session.unmute({ audio: true }); else sp.session.mute({ audio: true });
  sp.muted = sp.session.isMuted().audio;
  render();
}

function toggleHold() {
  if (!sp.session || sp.phase !== "talking") return;
  const done = () => { sp.held = sp.session?.isOnHold().local ?? false; render(); };
  if (sp.session.isOnHold().local) sp.session.unhold({}, done); else sp.session.hold({}, done);
}

function sendDtmf(tone) {
  if (!sp.session || sp.phase !== "talking") return;
  sp.session.sendDTMF(tone, { duration: 120, interToneGap: 70 });
  $("sp-dtmf-sent").textContent = ($("sp-dtmf-sent").textContent + tone).slice(-24);
}

function transfer(number) {
  const target = String(number || "").trim();
  if (!sp.session || sp.phase !== "talking" || !/^\+?[0-9*#]{1,20}$/.test(target)) return;
  const session = sp.session;
  const domain = sp.account.uri.split("@")[1];
  session.refer(`sip:${target}@${domain}`, {
    eventHandlers: {
      // The transfer target answered or rings: this leg has done its job (a blind transfer).
      accepted: () => { say("transferred", ` ${target}`); if (session.isEstablished()) session.terminate(); },
      failed: () => say("transfer_failed", ` (${target})`),
    },
  });
}

// Missed means the PBX gave up ringing this phone (app_queue's `timeout`, softphone.ring_timeout_seconds): a
// caller who hangs up after a second of ringing is not the operator's fault and pauses no one.
function isMissed(answered, cause) {
  if (answered || sp.phase !== "ringing" || [JsSIP.C.causes.BUSY, JsSIP.C.causes.REJECTED].includes(cause)) return false;
  return Date.now() - sp.startedAt >= (sp.account.ring_timeout_seconds - 1) * 1000;
}

function callEnded(answered, cause) {
  const caller = sp.caller;
  const missed = isMissed(answered, cause);
  const callerGone = !answered && sp.phase === "ringing" && !missed && cause === JsSIP.C.causes.CANCELED;
  stopRing();
  stopTimer();
  sp.session = null;
  sp.recovering = false;
  sp.reinviteSent = false;
  sp.reinviteAnswered = false;
  $("sp-audio").srcObject = null;
  const endedAt = Date.now();
  sp.lastCall = { caller, answered: answered && sp.answeredAt > 0, startedAt: sp.startedAt, endedAt };
  if (missed) {
    // app_queue's autopause has paused the operator too; pausing here names the reason and covers a PBX
    // without it.
    sp.phase = "ready";
    say("missed", `: ${displayCaller(caller)}. ${t("paused_missed")}`);
    pause(true, PAUSE_NOT_RESPONDING);
    notify(t("missed"), displayCaller(caller));
  } else if (callerGone) {
    sp.phase = "ready";
    say("caller_gone", `: ${displayCaller(caller)}`);
  } else if (sp.lastCall.answered && sp.account.wrapup_seconds > 0) {
    startWrapup();
  } else {
    sp.phase = "ready";
    if (sp.lastCall.answered) saveWrapup(sp.account.dispositions[0], "");
  }
  render();
}

async function pause(paused, reason) {
  if (!sp.hooks.member?.()) return;  // not in the queue: nothing to pause
  await sp.api("POST", "/api/me/pause", paused ? { paused, reason } : { paused }).catch(() => {});
}

// -- after-call work -------------------------------------------------------------------------------------------

// A pause with a reason, not app_queue's wrapuptime alone: the operator can end it early or let it run out, and
// supervisors see "after-call work" in the queue view. queues.conf keeps a short wrapuptime as a floor.
function startWrapup() {
  sp.phase = "wrapup";
  sp.wrapupLeft = sp.account.wrapup_seconds;
  // An operator who was paused already (a colleague's call rang while on a break) stays paused afterwards.
  sp.wrapupPaused = sp.hooks.member?.()?.state !== "paused";
  if (sp.wrapupPaused) pause(true, PAUSE_AFTER_CALL);
  $("sp-note").value = "";
  $("sp-disposition").value = sp.account.dispositions[0];
  clearInterval(sp.wrapupTimer);
  sp.wrapupTimer = setInterval(() => {
    sp.wrapupLeft -= 1;
    if (sp.wrapupLeft <= 0) finishWrapup(); else renderWrapupClock();
  }, 1000);
  render();
  $("sp-disposition").focus();
}

async function finishWrapup() {
  if (sp.phase !== "wrapup") return;
  clearInterval(sp.wrapupTimer);
  sp.phase = "ready";
  render();
  await saveWrapup($("sp-disposition").value, $("sp-note").value);
  if (sp.wrapupPaused) await pause(false);
  sp.wrapupPaused = false;
}

async function saveWrapup(disposition, note) {
  const call = sp.lastCall;
  if (!call) return;
  sp.lastCall = null;
  try {
    await sp.api("POST", "/api/softphone/wrapups", {
      disposition, note: note.slice(0, 2000), caller: call.caller.number.slice(0, 40),
      caller_name: call.caller.name.slice(0, 120), queue_uniqueid: call.caller.uniqueid.slice(0, 80),
      callback_id: call.caller.callback.slice(0, 80), sip_call_id: call.caller.callId.slice(0, 200),
      answered: call.answered, started_at: call.startedAt / 1000, ended_at: call.endedAt / 1000,
    });
    say("saved");
    $("phone-card").dataset.wrapups = String(Number($("phone-card").dataset.wrapups || 0) + 1);
  } catch (error) {
    say("", error.message);
  }
}

function displayCaller(caller) {
  if (!caller) return "";
  return [caller.name, caller.number].filter(Boolean).join(" ") || t("unknown");
}

// -- devices and the pre-flight check -------------------------------------------------------------------------

async function loadDevices() {
  const devices = await listDevices();
  for (const [id, kind, key] of [["sp-mic", "audioinput", "softphone.microphone"],
                                 ["sp-output", "audiooutput", "softphone.output"]]) {
    const chosen = localStorage.getItem(key) || "";
    $(id).innerHTML = `<option value="">${esc(t("default_device"))}</option>` + devices[kind].map((d) =>
      `<option value="${esc(d.id)}"${d.id === chosen ? " selected" : ""}>${esc(d.label)}</option>`).join("");
  }
}

function applyOutput(audio) {
  const sink = localStorage.getItem("softphone.output") || "";
  if (audio.setSinkId) audio.setSinkId(sink).catch(() => {});
}

async function preflight() {
  const mic = await microphoneProblem();
  if (!mic) await loadDevices();
  const connected = Boolean(sp.ua?.isConnected());
  const ice = iceProblem(await gatherCandidates(rtcConfig()), sp.account.ice_servers.length > 0);
  const results = [["check_mic", mic], ["check_ws", connected ? null : "ws_down"], ["check_ice", ice]];
  $("sp-preflight").innerHTML = results.map(([key, problem]) =>
    `<li class="${problem ? "bad" : "good"}" data-check="${key}" data-ok="${!problem}">${problem ? "✗" : "✓"} ${esc(t(key))}: ${esc(t(problem || "ok"))}</li>`).join("");
  askNotificationPermission();
}

// -- rendering -------------------------------------------------------------------------------------------------

function say(key, extra = "") {
  sp.messageKey = key;
  sp.messageExtra = extra;
  $("sp-message").textContent = key ? `${t(key)}${extra}` : extra;
}

function buildControls() {
  $("sp-keypad").innerHTML = DTMF_KEYS.map((k) => `<button type="button" class="secondary" data-dtmf="${esc(k)}">${esc(k)}</button>`).join("");
  $("sp-quick").innerHTML = sp.account.quick_connects.map((q) =>
    `<button type="button" class="secondary" data-transfer="${esc(q.number)}">${esc(q.name)} (${esc(q.number)})</button>`).join("");
  const chosen = $("sp-disposition").value;
  $("sp-disposition").innerHTML = sp.account.dispositions.map((d) => `<option value="${esc(d)}">${esc(d)}</option>`).join("");
  if (chosen) $("sp-disposition").value = chosen;
  $("sp-auto-answer").checked = localStorage.getItem("softphone.autoAnswer") === "1";
  $("sp-shortcuts").textContent = t("shortcuts");
  // The key shows on hover too, where the operator looks for it.
  for (const node of document.querySelectorAll("#phone-card [aria-keyshortcuts]")) node.title = node.getAttribute("aria-keyshortcuts");
}

function statusKey() {
  if (sp.phase === "second_tab") return "off";
  if (sp.phase === "talking" && sp.held) return "on_hold";
  if (["ringing", "talking", "wrapup"].includes(sp.phase)) return sp.phase;
  if (sp.ua?.isRegistered()) return "ready";
  return sp.ua ? "connecting" : "off";
}

function render() {
  const card = $("phone-card");
  if (!card || !sp.account) return;
  const key = statusKey();
  card.dataset.phase = sp.phase;
  card.dataset.registered = String(Boolean(sp.ua?.isRegistered()));
  card.dataset.registrations = String(sp.registrations);
  card.dataset.iceRestarts = String(sp.iceRestarts);
  card.dataset.recovering = String(sp.recovering);
  $("sp-status").textContent = t(key);
  $("sp-status").className = `badge ${key === "off" || key === "connecting" ? "offline" : key === "ready" ? "online" : "busy"}`;
  const caller = sp.caller;
  const ringing = sp.phase === "ringing";
  const talking = sp.phase === "talking";
  $("sp-incoming").hidden = !(ringing || talking);
  $("sp-heading").textContent = ringing ? t("incoming") : talking ? t("talking") : "";
  if (caller) {
    $("sp-caller-name").textContent = caller.name || caller.number || t("unknown");
    $("sp-caller-number").textContent = caller.name ? caller.number : "";
    $("sp-caller-kind").textContent = caller.callback
      ? `${t("callback_call")}${caller.callbackInfo ? ` ${caller.callbackInfo.phone}` : ""}` : caller.uniqueid ? t("queue_call") : "";
    $("sp-cases").innerHTML = caller.cases === null ? "" : caller.cases.length
      ? `<p>${esc(t("cases"))}</p><ul>${caller.cases.map((c) => `<li><button type="button" class="secondary" data-case="${esc(c.number)}">${esc(c.number)}</button> ${esc(c.kind)} — ${esc(c.status_text || c.status)}</li>`).join("")}</ul>`
      : `<p>${esc(t("no_cases"))}</p>`;
  }
  $("sp-answer").hidden = !ringing;
  $("sp-reject").hidden = !ringing;
  $("sp-in-call").hidden = !talking;
  $("sp-mute").textContent = t(sp.muted ? "unmute" : "mute");
  $("sp-mute").setAttribute("aria-pressed", String(sp.muted));
  $("sp-hold").textContent = t(sp.held ? "unhold" : "hold");
  $("sp-hold").setAttribute("aria-pressed", String(sp.held));
  $("sp-wrapup").hidden = sp.phase !== "wrapup";
  renderWrapupClock();
}

function renderWrapupClock() {
  $("sp-countdown").textContent = `${t("seconds_left")}: ${Math.max(0, sp.wrapupLeft)} ${t("s")}`;
}

function startTimer() {
  stopTimer();
  const tick = () => {
    const seconds = Math.floor((Date.now() - sp.answeredAt) / 1000);
    $("sp-timer").textContent = `${String(Math.floor(seconds / 60)).padStart(2, "0")}:${String(seconds % 60).padStart(2, "0")}`;
  };
  tick();
  sp.timer = setInterval(tick, 1000);
}

function stopTimer() {
  clearInterval(sp.timer);
  sp.timer = null;
  $("sp-timer").textContent = "00:00";
}

// -- controls and keyboard -------------------------------------------------------------------------------------

$("sp-answer").addEventListener("click", answer);
$("sp-reject").addEventListener("click", hangUp);
$("sp-hangup").addEventListener("click", hangUp);
$("sp-mute").addEventListener("click", toggleMute);
$("sp-hold").addEventListener("click", toggleHold);
$("sp-keypad").addEventListener("click", (e) => { const k = e.target.closest("[data-dtmf]")?.dataset.dtmf; if (k) sendDtmf(k); });
$("sp-quick").addEventListener("click", (e) => { const n = e.target.closest("[data-transfer]")?.dataset.transfer; if (n) transfer(n); });
$("sp-transfer").addEventListener("submit", (e) => { e.preventDefault(); transfer($("sp-transfer-number").value); });
$("sp-cases").addEventListener("click", (e) => { const n = e.target.closest("[data-case]")?.dataset.case; if (n) sp.hooks.showCase?.(n); });
$("sp-wrapup").addEventListener("submit", (e) => { e.preventDefault(); finishWrapup(); });
$("sp-auto-answer").addEventListener("change", (e) => localStorage.setItem("softphone.autoAnswer", e.target.checked ? "1" : "0"));
$("sp-mic").addEventListener("change", (e) => localStorage.setItem("softphone.microphone", e.target.value));
$("sp-output").addEventListener("change", (e) => { localStorage.setItem("softphone.output", e.target.value); applyOutput($("sp-audio")); });
$("sp-check").addEventListener("click", () => preflight());
$("sp-settings").addEventListener("toggle", () => { if ($("sp-settings").open) loadDevices().catch(() => {}); });

// Alt + a letter, by the key's position (event.code), so the shortcuts work with the Russian layout too. While
// the keypad is open, digits, * and # typed outside a text field go to the call as DTMF.
const SHORTCUTS = {
  KeyA: answer, KeyM: toggleMute, KeyH: toggleHold, KeyX: hangUp,
  KeyT: () => { if (sp.phase === "talking") $("sp-transfer-number").focus(); },
};
document.addEventListener("keydown", (event) => {
  if (!sp.started || event.ctrlKey || event.metaKey) return;
  if (!event.altKey) {
    const typing = event.target.closest?.("input, textarea, select");
    if ($("sp-keypad-box").open && !typing && DTMF_KEYS.includes(event.key)) sendDtmf(event.key);
    return;
  }
  const action = SHORTCUTS[event.code];
  if (!action) return;
  event.preventDefault();
  action();
});
