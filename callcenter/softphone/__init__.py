"""The operators' WebRTC softphone: SIP identities derived from the dashboard accounts, the PJSIP endpoints
Asterisk loads for them, one registration per operator, and the wrap-up saved after each call."""
