// How an incoming call gets the operator's attention: a ring tone made with WebAudio, the tab's title blinking,
// a desktop notification while the tab is hidden. No SIP here: softphone.js says when to start and stop.

let audioContext = null;
let ring = null;
let titleTimer = null;
let baseTitle = "";

function context() {
  audioContext ||= new AudioContext();
  if (audioContext.state === "suspended") audioContext.resume().catch(() => {});
  return audioContext;
}
// Browsers start audio only after the user touched the page: the first click or key unlocks the ring tone.
for (const kind of ["pointerdown", "keydown"]) document.addEventListener(kind, () => context(), { once: true });

// Starts the tone and the title; returns the audio context's state ("running" when the tone is heard).
export function startRing(who, incomingTitle) {
  stopRing();
  const ctx = context();
  const gain = ctx.createGain();
  gain.gain.value = 0;
  gain.connect(ctx.destination);
  const tones = [440, 480].map((hz) => {
    const osc = ctx.createOscillator();
    osc.frequency.value = hz;
    osc.connect(gain);
    osc.start();
    return osc;
  });
  // 1 s on, 2 s off, scheduled ahead on the audio clock (a minute of it; the queue rings for less).
  const now = ctx.currentTime;
  for (let i = 0; i < 20; i++) {
    gain.gain.setValueAtTime(0.15, now + i * 3);
    gain.gain.setValueAtTime(0, now + i * 3 + 1);
  }
  ring = { gain, tones };
  baseTitle = document.title;
  let flip = false;
  titleTimer = setInterval(() => { flip = !flip; document.title = flip ? `☎ ${who}` : baseTitle; }, 800);
  document.title = `☎ ${who}`;
  notify(incomingTitle, who);
  return ctx.state;
}

export function stopRing() {
  if (ring) {
    for (const osc of ring.tones) osc.stop();
    ring.gain.disconnect();
    ring = null;
  }
  clearInterval(titleTimer);
  titleTimer = null;
  if (baseTitle) document.title = baseTitle;
  baseTitle = "";
}

// Only while the tab is hidden, and only once the operator allowed it (asked by the pre-flight check).
export function notify(title, body) {
  if (!("Notification" in window) || Notification.permission !== "granted" || !document.hidden) return;
  const note = new Notification(title, { body, tag: "hotline-call", requireInteraction: true });
  note.addEventListener("click", () => { window.focus(); note.close(); });
}

export function askNotificationPermission() {
  if ("Notification" in window && Notification.permission === "default") Notification.requestPermission().catch(() => {});
}
