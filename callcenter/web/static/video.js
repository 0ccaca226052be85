// The resident's side of a video session: camera check, consent, the call over WebRTC through the service,
// the chat (data channel, or the signalling socket when media fails), rejoin after a reload within the grace.
const $ = (id) => document.getElementById(id);
const STATES = {
  waiting_interpreter: "Ждём переводчика жестового языка",
  with_interpreter: "Переводчик на связи; подключаем оператора",
  waiting_operator: "Ждём оператора",
  with_operator: "Оператор на связи",
  ended: "Звонок завершён",
};
const WHO = { resident: "Вы", interpreter: "Переводчик", operator: "Оператор" };
let local = null;
const call = { pc: null, ws: null, chat: null, token: null, session: null };
window.videoCall = call;  // for tests and support: the page's peer connection and session

async function camera() {
  if (!local) {
    local = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: true });
    $("self").srcObject = local;
  }
  return local;
}

$("check").addEventListener("click", async () => {
  try {
    const stream = await camera();
    $("check-result").textContent = `Камера и микрофон работают (${stream.getTracks().length} источника).`;
  } catch (error) {
    $("check-result").textContent = "Камера или микрофон недоступны: разрешите доступ в браузере. Чат работает и без них.";
  }
});

function minutes(seconds) {
  return seconds == null ? "" : ` Примерное ожидание: ${Math.max(1, Math.round(seconds / 60))} мин.`;
}

function showState(session) {
  call.session = session;
  const waiting = session.waiting || {};
  let text = STATES[session.state] || session.state;
  if (waiting.position) text += `. Вы ${waiting.position}-й в очереди.` + minutes(waiting.estimated_wait);
  $("status").textContent = text;
  $("status").dataset.state = session.state;
  if (session.state === "ended") finish();
}

function say(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

function addChat(from, text) {
  const line = document.createElement("p");
  line.innerHTML = "<strong></strong> ";
  line.firstChild.textContent = `${WHO[from] || from}:`;
  line.append(text);
  $("chat-log").append(line);
  $("chat-log").scrollTop = $("chat-log").scrollHeight;
}

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
  try { stream = await camera(); } catch (error) { say("Без камеры: работает чат.", true); }
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
  // The service relays others' messages as JSON {from, text, at}; we send plain text.
  call.chat.onmessage = (event) => { const entry = JSON.parse(event.data); addChat(entry.from, entry.text); };
  pc.onicecandidate = (event) => {
    if (event.candidate) send({ type: "candidate", candidate: event.candidate.candidate, sdpMid: event.candidate.sdpMid, sdpMLineIndex: event.candidate.sdpMLineIndex });
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === "failed") say("Видео прервалось. Переподключаемся; чат работает.", true);
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
      showState(message.session);
      if (message.role) call.role = message.role;
      if (message.event === "hello" && !call.pc) await connectMedia(iceServers);
    } else if (message.type === "answer") {
      await call.pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
    } else if (message.type === "chat") {
      if (message.from !== (call.role || "resident")) addChat(message.from, message.text);
    } else if (message.type === "chat_history") {
      $("chat-log").textContent = "";
      for (const entry of message.messages) addChat(entry.from, entry.text);
    } else if (message.type === "error") {
      if (message.error === "bad_token" || message.error === "session_ended") {
        sessionStorage.removeItem("video-token");
        say("Звонок завершён или ссылка устарела.", true);
      } else {
        say(`Ошибка: ${message.message}`, true);
      }
    }
  };
  ws.onclose = () => {
    if (call.session && call.session.state !== "ended" && (call.token || call.staffSession)) {
      setTimeout(() => openSignalling(iceServers), 2000);
    }
  };
}

$("start").addEventListener("click", async () => {
  if (!$("consent").checked) {
    $("check-result").textContent = "Чтобы позвонить, отметьте согласие.";
    $("consent").focus();
    return;
  }
  $("start").disabled = true;
  const mode = document.querySelector("input[name=mode]:checked").value;
  const response = await fetch("/api/video/sessions", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ mode, consent: true, record: $("record").checked }),
  });
  const body = await response.json();
  if (response.status === 409 && body.error === "closed") {
    const opens = body.detail.opens_at ? new Date(body.detail.opens_at).toLocaleString("ru-RU", { timeZone: "Europe/Moscow" }) : "";
    $("closed").hidden = false;
    $("closed").innerHTML = "Сейчас горячая линия закрыта. <span></span> <a href=\"/callback\">Заказать звонок в удобное время</a>.";
    $("closed").querySelector("span").textContent = opens ? `Откроется ${opens} (МСК).` : "";
    $("start").disabled = false;
    return;
  }
  if (response.status === 429) {
    $("check-result").textContent = "С вашего адреса уже идёт видеозвонок или их было слишком много за этот час. "
      + "Завершите начатый звонок или попробуйте позже.";
    $("start").disabled = false;
    return;
  }
  if (response.status !== 201) {
    $("check-result").textContent = `Не удалось начать звонок: ${typeof body.detail === "string" ? body.detail : body.error}`;
    $("start").disabled = false;
    return;
  }
  call.token = body.token;
  sessionStorage.setItem("video-token", body.token);
  sessionStorage.setItem("video-ice", JSON.stringify(body.ice_servers));
  $("setup").hidden = true;
  $("call").hidden = false;
  showState(body.session);
  openSignalling(body.ice_servers);
});

$("chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("chat-text").value.trim();
  if (!text) return;
  if (call.chat && call.chat.readyState === "open") call.chat.send(text);
  else send({ type: "chat", text });
  addChat(call.role || "resident", text);
  $("chat-text").value = "";
});

$("leave").addEventListener("click", () => {
  // Staff leave (the session goes on without them); the resident ends it.
  send({ type: call.staffSession ? "leave" : "end" });
  finish();
});

function finish() {
  sessionStorage.removeItem("video-token");
  call.token = null;
  if (call.pc) call.pc.close();
  $("leave").disabled = true;
}

// Staff open /video?session=ID from the dashboard: their login says who they are, the page joins at once.
call.staffSession = new URLSearchParams(location.search).get("session");
const saved = sessionStorage.getItem("video-token");
if (call.staffSession) {
  $("setup").hidden = true;
  $("call").hidden = false;
  document.querySelector("h1").textContent = "Видеосеанс";
  fetch("/api/video/sessions").then((r) => r.json()).then((data) => openSignalling(data.ice_servers || []));
} else if (saved) {
  // A reload within the grace period rejoins the same session.
  call.token = saved;
  $("setup").hidden = true;
  $("call").hidden = false;
  openSignalling(JSON.parse(sessionStorage.getItem("video-ice") || "[]"));
}
