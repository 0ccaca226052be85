// The pre-flight check's probes and the device lists, apart from the page: each returns plain data, and
// softphone.js words and shows it.

export async function listDevices() {
  if (!navigator.mediaDevices?.enumerateDevices) return { audioinput: [], audiooutput: [] };
  const devices = await navigator.mediaDevices.enumerateDevices();
  const of = (kind) => devices.filter((d) => d.kind === kind && d.deviceId !== "default")
    .map((d, i) => ({ id: d.deviceId, label: d.label || `${kind} ${i + 1}` }));
  return { audioinput: of("audioinput"), audiooutput: of("audiooutput") };
}

// null when the microphone may be used, else the text key of what is wrong.
export async function microphoneProblem() {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    stream.getTracks().forEach((track) => track.stop());
    return null;
  } catch (error) {
    return error.name === "NotFoundError" ? "mic_none" : "mic_denied";
  }
}

// The ICE candidates this browser gathers with the given servers (at most 5 s).
export async function gatherCandidates(rtcConfig) {
  const pc = new RTCPeerConnection(rtcConfig);
  const found = [];
  try {
    pc.createDataChannel("probe");
    const done = new Promise((resolve) => {
      pc.addEventListener("icecandidate", (e) => { if (e.candidate) found.push(e.candidate.candidate); else resolve(); });
      setTimeout(resolve, 5000);
    });
    await pc.setLocalDescription(await pc.createOffer());
    await done;
  } finally {
    pc.close();
  }
  return found;
}

// Pure: with STUN/TURN configured, a reflexive or relay address must be among the candidates (operators outside
// the LAN need one); without, any address will do. null when fine, else the text key of what is wrong.
export function iceProblem(candidates, wantsRelay) {
  if (!candidates.length) return "ice_none";
  if (wantsRelay && !candidates.some((c) => / typ (srflx|relay)( |$)/.test(c))) return "ice_no_relay";
  return null;
}
