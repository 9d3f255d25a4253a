"""A black-box conformance kit for any pump that speaks PROTOCOL.md.

Run it against a pump through the wire alone (no model access)::

    pytest --pyargs host_tools.conformance --pump-url /dev/ttyUSB0 [--pump-keys keys.json]

It checks framing and resynchronisation in noise, CRC and tag refusal, the handshake, sequence
and replay rules, roles, the refusal codes of PROTOCOL.md section 12 that a pump can be driven
to from the wire, exactly-once execution under retransmission, alarms and the event log. Tests
that need the emulator's INJECT_FAULT request (alarms on demand) skip, saying so, on a pump that
answers it with UNKNOWN_MESSAGE_TYPE. Without ``--pump-url`` the kit starts a virtual pump.

The kit programs the pump (drug, schedule, limits, refills): never point it at a pump in use.
"""
