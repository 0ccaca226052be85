// One participant's side of a video session: the resident (camera check, consent, the call) or a staff member
// who opened /video?session=ID. WebRTC through the service; chat lines on the "chat" data channel (the
// signalling socket when media fails); real-time text as T.140 on a "t140" channel (RFC 8865), rejoin after a
// reload within the grace period.
import {
  LINE_SEPARATOR, applyT140, errorText, increment, isChatRefusal, pictureName, pictures, present, speaker,
  statusText, typingLabel, waitingNote,
} from "/static/video-text.js";
import { movable } from "/static/video-move.js";

const $ = (id) => document.getElementById(id);
// Real-time text: at most one message per this many ms, carrying whatever was typed meanwhile.
const TYPING_MS = 100;
let local = null;
let asking = null;  // the one camera request in flight (the self-view and the call both want it)
const call = { pc: null, ws: null, chat: null, t140: null, token: null, session: null, role: "resident" };
window.videoCall = call;  // for tests and support: the page's peer connection and session
const typed = { sent: "", timer: null, last: 0 };
const theirs = {};  // what each other participant has typed so far on their current line
let lastOwnLine = null;

async function camera() {
  if (!asking) {
    asking = navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: true });
    asking.catch(() => { asking = null; });  // refused now, perhaps allowed on the next try
  }
  local = await asking;
  $("self").srcObject = local;
  $("self").hidden = false;
  $("self-view").srcObject = local;
  return local;
}

$("check").addEventListener("click", async () => {
  try {
    const stream = await camera();
    // Said in words, not counted ("2 источника" meant nothing to a resident, and "1 источника" is not Russian).
    const video = stream.getVideoTracks().length > 0;
    const audio = stream.getAudioTracks().length > 0;
    $("check-result").textContent = video && audio ? "Камера и микрофон работают."
      : video ? "Камера работает, микрофон не найден. Переписка работает и без него."
        : "Микрофон работает, камера не найдена. Переписка работает и без неё.";
  } catch (error) {
    $("check-result").textContent = "Камера или микрофон недоступны: разрешите доступ в браузере. Чат работает и без них.";
  }
});

function showState(session) {
  call.session = session;
  $("status").textContent = statusText(session, call.role);
  $("status").dataset.state = session.state;
  $("status").classList.remove("error");
  const roles = pictures(session.mode, call.role);
  $("main").setAttribute("aria-label", pictureName(roles.main));
  $("main-caption").textContent = `В большом окне: ${pictureName(roles.main).toLowerCase()}`;
  const mainHere = present(session, roles.main);
  $("main-caption").hidden = !mainHere;
  $("stage-note").hidden = mainHere;
  $("stage-note").textContent = mainHere ? "" : waitingNote(session, call.role);
  $("side-tile").hidden = !roles.side || !present(session, roles.side);
  if (roles.side) {
    $("side").setAttribute("aria-label", pictureName(roles.side));
    $("side-caption").textContent = pictureName(roles.side);
  }
  if (session.state === "ended") finish("ended");
}

function say(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

function addChat(from, text) {
  const line = document.createElement("p");
  const who = document.createElement("strong");
  who.textContent = `${speaker(from, call.role)}:`;
  line.dataset.from = from;
  line.classList.toggle("own", from === call.role);
  line.append(who, " ", text);
  $("chat-log").append(line);
  $("conversation").scrollTop = $("conversation").scrollHeight;
  if (from !== call.role) showTyping(from, LINE_SEPARATOR);  // their line is finished: no longer "typing"
  return line;
}

// -- real-time text ------------------------------------------------------------------------------------------

function showTyping(from, t140) {
  theirs[from] = applyT140(theirs[from] || "", t140);
  let line = $("typing").querySelector(`[data-from="${from}"]`);
  if (!line) {
    line = document.createElement("p");
    line.dataset.from = from;
    const who = document.createElement("strong");
    who.textContent = typingLabel(from);
    line.append(who, " ", document.createElement("span"));
    $("typing").append(line);
  }
  line.querySelector("span").textContent = theirs[from];
  line.hidden = !theirs[from];
  $("conversation").scrollTop = $("conversation").scrollHeight;
}

function sendTyped() {
  clearTimeout(typed.timer);
  typed.timer = null;
  typed.last = Date.now();
  const t140 = increment(typed.sent, $("chat-text").value);
  typed.sent = $("chat-text").value;
  if (t140) sendText(t140);
}

function sendText(t140) {
  if (call.t140 && call.t140.readyState === "open") call.t140.send(t140);
  else send({ type: "text", t140 });
}

$("chat-text").addEventListener("input", () => {
  if (typed.timer) return;  // a send is due and will carry this too
  typed.timer = setTimeout(sendTyped, Math.max(0, typed.last + TYPING_MS - Date.now()));
});

// -- media and signalling ------------------------------------------------------------------------------------

function preferCodec(transceiver, kind, mime) {
  const caps = RTCRtpSender.getCapabilities && RTCRtpSender.getCapabilities(kind);
  if (!caps || !transceiver.setCodecPreferences) return;
  const wanted = caps.codecs.filter((c) => c.mimeType.toLowerCase() === mime || c.mimeType.toLowerCase() === `${kind}/rtx`);
  if (wanted.some((c) => c.mimeType.toLowerCase() === mime)) transceiver.setCodecPreferences(wanted);
}

async function connectMedia(iceServers) {
  const pc = new RTCPeerConnection({ iceServers });
  call.pc = pc;
  let stream = null;
  try { stream = await camera(); } catch (error) { say("Без камеры: работает переписка.", true); }
  const video = stream && stream.getVideoTracks()[0];
  const audio = stream && stream.getAudioTracks()[0];
  // The layout the service expects: camera (large picture back), microphone (voice back), small picture.
  const main = video ? pc.addTransceiver(video, { direction: "sendrecv" }) : pc.addTransceiver("video", { direction: "recvonly" });
  const voice = audio ? pc.addTransceiver(audio, { direction: "sendrecv" }) : pc.addTransceiver("audio", { direction: "recvonly" });
  const side = pc.addTransceiver("video", { direction: "recvonly" });
  preferCodec(main, "video", "video/vp8");
  preferCodec(side, "video", "video/vp8");
  preferCodec(voice, "audio", "audio/opus");
  $("main").srcObject = new MediaStream([main.receiver.track, voice.receiver.track]);
  $("side").srcObject = new MediaStream([side.receiver.track]);
  call.chat = pc.createDataChannel("chat");
  // The service relays others' lines as JSON {from, text, at}; we send plain text.
  call.chat.onmessage = (event) => { const entry = JSON.parse(event.data); addChat(entry.from, entry.text); };
  call.t140 = pc.createDataChannel("t140", { protocol: "t140" });
  // What the others type comes on channels the service opens, one per source, labelled with its role.
  pc.ondatachannel = (event) => {
    const channel = event.channel;
    if (channel.protocol === "t140") channel.onmessage = (message) => showTyping(channel.label, message.data);
  };
  pc.onicecandidate = (event) => {
    if (event.candidate) send({ type: "candidate", candidate: event.candidate.candidate, sdpMid: event.candidate.sdpMid, sdpMLineIndex: event.candidate.sdpMLineIndex });
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === "failed") say("Видео прервалось. Переподключаемся; переписка работает.", true);
  };
  await pc.setLocalDescription(await pc.createOffer());
  send({ type: "offer", sdp: pc.localDescription.sdp });
}

function send(message) {
  if (call.ws && call.ws.readyState === WebSocket.OPEN) call.ws.send(JSON.stringify(message));
}

function openSignalling(iceServers) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/api/video/ws`);
  call.ws = ws;
  ws.onopen = () => ws.send(JSON.stringify(call.staffSession ? { type: "hello", session: call.staffSession }
                                                             : { type: "hello", token: call.token }));
  ws.onmessage = async (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "state") {
      if (message.role) call.role = message.role;
      showState(message.session);
      if (message.event === "hello" && !call.pc && message.session.state !== "ended") await connectMedia(iceServers);
    } else if (message.type === "answer") {
      await call.pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
    } else if (message.type === "chat") {
      if (message.from !== call.role) addChat(message.from, message.text);
    } else if (message.type === "chat_history") {
      $("chat-log").textContent = "";
      for (const entry of message.messages) addChat(entry.from, entry.text);
    } else if (message.type === "text") {
      showTyping(message.from, message.t140);
    } else if (message.type === "error") {
      if (message.error === "bad_token" || message.error === "session_ended") {
        sessionStorage.removeItem("video-token");
        finish("ended", errorText(message.error));
      } else {
        if (isChatRefusal(message.error) && lastOwnLine) lastOwnLine.classList.add("failed");
        say(errorText(message.error), true);
      }
    }
  };
  ws.onclose = () => {
    if (!call.over && call.session && call.session.state !== "ended" && (call.token || call.staffSession)) {
      setTimeout(() => openSignalling(iceServers), 2000);
    }
  };
}

// -- starting ------------------------------------------------------------------------------------------------

function problem(text, link = false) {
  // Announced (role=alert) and focused, so it is seen without scrolling and keyboard focus stays near.
  const box = $("start-problem");
  box.textContent = text;
  if (link) {
    const a = document.createElement("a");
    a.href = "/callback";
    a.textContent = "Заказать звонок в удобное время";
    box.append(" ", a, ".");
  }
  box.hidden = false;
  box.focus({ preventScroll: true });
  box.scrollIntoView({ block: "center" });  // wholly in view with the Start button under it
}

$("consent").addEventListener("change", () => {
  if ($("consent").checked) {
    $("consent-error").hidden = true;
    $("consent").removeAttribute("aria-invalid");
  }
});

function enterCall() {
  $("setup").hidden = true;
  $("call").hidden = false;
  document.body.classList.add("in-call");
  camera().catch(() => {});  // the self-view; the call goes on without a camera
}

$("start").addEventListener("click", async () => {
  $("start-problem").hidden = true;
  if (!$("consent").checked) {
    $("consent-error").hidden = false;
    $("consent").setAttribute("aria-invalid", "true");
    $("consent").focus();
    return;
  }
  $("start").disabled = true;
  const mode = document.querySelector("input[name=mode]:checked").value;
  let response;
  let body = {};
  try {
    response = await fetch("/api/video/sessions", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ mode, consent: true, record: $("record").checked }),
    });
    body = await response.json().catch(() => ({}));
  } catch (error) {
    $("start").disabled = false;
    problem("Нет связи с горячей линией. Проверьте интернет и попробуйте ещё раз.");
    return;
  }
  $("start").disabled = false;
  if (response.status === 409 && body.error === "closed") {
    const at = body.detail && body.detail.opens_at;
    const opens = at ? new Date(at).toLocaleString("ru-RU", { timeZone: "Europe/Moscow", dateStyle: "long", timeStyle: "short" }) : "";
    problem(`Сейчас горячая линия закрыта.${opens ? ` Откроется ${opens} (МСК).` : ""}`, true);
    return;
  }
  if (response.status !== 201) {
    problem(errorText(body.error || ""));
    return;
  }
  call.token = body.token;
  sessionStorage.setItem("video-token", body.token);
  sessionStorage.setItem("video-ice", JSON.stringify(body.ice_servers));
  enterCall();
  showState(body.session);
  $("status").focus();  // the button that had focus is gone: the status is what to read now
  openSignalling(body.ice_servers);
});

// -- chatting ------------------------------------------------------------------------------------------------

$("chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("chat-text").value.trim();
  if (!text) return;
  if (call.chat && call.chat.readyState === "open") call.chat.send(text);
  else send({ type: "chat", text });
  // The line is finished: it goes as chat (kept with the session) and the typed line ends for the others.
  clearTimeout(typed.timer);
  typed.timer = null;
  typed.sent = "";
  sendText(LINE_SEPARATOR);
  lastOwnLine = addChat(call.role, text);
  $("chat-text").value = "";
});

// -- leaving -------------------------------------------------------------------------------------------------

$("leave").addEventListener("click", () => $("confirm-end").showModal());

$("confirm-end").addEventListener("close", () => {
  if ($("confirm-end").returnValue !== "end") return;  // the dialog gives focus back to "Завершить"
  // Staff leave (the session goes on without them); the resident ends it.
  send({ type: call.staffSession ? "leave" : "end" });
  finish(call.staffSession ? "left" : "hung_up");
});

function finish(how, why = "") {
  // Once: the service's "ended" that follows the resident's own end must not overwrite what was said.
  if (call.over) return;
  sessionStorage.removeItem("video-token");
  call.token = null;
  if (call.pc) call.pc.close();
  if (local) local.getTracks().forEach((track) => track.stop());
  call.over = true;
  $("call").classList.add("over");
  $("call").hidden = false;
  $("setup").hidden = true;
  $("ended").hidden = false;
  $("leave").disabled = true;
  $("chat-text").disabled = true;
  if (call.staffSession) {
    $("ended-title").textContent = how === "left" ? "Вы вышли из сеанса" : "Сеанс завершён";
    $("ended-text").textContent = why || (how === "left" ? "Сеанс продолжается без вас." : "Переписка сеанса осталась ниже.");
    $("again").textContent = "Вернуться на рабочее место";
    $("again").href = "/";
  } else if (how === "hung_up" && call.session?.state?.startsWith("waiting_")) {
    // The resident gave up waiting: nobody has helped yet, so "thank you" is not the news; what else to do is.
    const who = call.session.state === "waiting_interpreter" ? "переводчик" : "оператор";
    const link = document.createElement("a");
    link.href = "/callback";
    link.textContent = "заказать обратный звонок";
    $("ended-text").replaceChildren(`Вы завершили звонок до того, как ${who} ответил. Можно позвонить ещё раз или `,
      link, " — оператор перезвонит вам на телефон.");
  } else {
    $("ended-text").textContent = why || ($("chat-log").childElementCount
      ? "Спасибо за звонок. Переписка звонка осталась ниже." : "Спасибо за звонок.");
  }
  // What had focus (Завершить, the message field) is gone or disabled: focus the news, never <body>.
  $("ended-title").focus();
}

// -- the page's start ----------------------------------------------------------------------------------------

movable($("self-tile"), $("call"));
// Staff open /video?session=ID from the dashboard: their login says who they are, the page joins at once.
call.staffSession = new URLSearchParams(location.search).get("session");
const saved = sessionStorage.getItem("video-token");
if (call.staffSession) {
  call.role = null;  // told by the service's first message
  document.title = "Видеосеанс — рабочее место";
  $("title").textContent = "Видеосеанс";
  $("leave").textContent = "Выйти из сеанса";
  $("confirm-title").textContent = "Выйти из сеанса?";
  $("confirm-text").textContent = "Сеанс продолжится без вас.";
  $("confirm-yes").textContent = "Да, выйти";
  enterCall();
  fetch("/api/video/sessions").then((r) => r.json()).then((data) => openSignalling(data.ice_servers || []))
    .catch(() => say(errorText(""), true));
} else if (saved) {
  // A reload within the grace period rejoins the same session.
  call.token = saved;
  enterCall();
  openSignalling(JSON.parse(sessionStorage.getItem("video-ice") || "[]"));
}
