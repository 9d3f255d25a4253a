-- intrapump: Wireshark dissector for the intrapump programming and telemetry protocol.
--
-- Shipped with the intrapump Python package (`pumpctl wireshark` prints where). Use it with
--   tshark -X lua_script:/path/to/intrapump.lua -r capture.pcapng -V
--   wireshark -X lua_script:/path/to/intrapump.lua capture.pcapng
-- or copy it into the personal Lua plugin folder (`pumpctl wireshark --install`).
--
-- It decodes captures written by intrapump (pcapng, link type USER0 = DLT 147, one packet per
-- frame, bytes that are not a frame as packets of their own): the frame header, every message
-- and field of PROTOCOL.md with its enumeration names, the CRC (checked) and the tag (present or
-- not; it cannot be verified without the session key), and flags bad frames as expert info.
-- Display filters: intrapump, intrapump.msg_type == 0x90, intrapump.f.reservoir_nl > 1000000,
-- intrapump.crc.good == 0, _ws.expert.group == "Malformed".

-- @@GENERATED_TABLES@@

local HEADER_BYTES, TAG_BYTES, CRC_BYTES = 15, 16, 2

-- Bit operations for Lua 5.1 (bit), 5.2 (bit32) and 5.3+ (operators, loaded as text so that
-- older interpreters never parse them).
local bxor, band, lshift
if bit32 then
  bxor, band, lshift = bit32.bxor, bit32.band, bit32.lshift
elseif bit then
  bxor, band, lshift = bit.bxor, bit.band, bit.lshift
else
  bxor = load("return function(a, b) return a ~ b end")()
  band = load("return function(a, b) return a & b end")()
  lshift = load("return function(a, n) return a << n end")()
end

-- CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR).
local function crc16(bytes, count)
  local crc = 0xFFFF
  for i = 0, count - 1 do
    crc = bxor(crc, lshift(bytes:get_index(i), 8))
    for _ = 1, 8 do
      if band(crc, 0x8000) ~= 0 then
        crc = band(bxor(lshift(crc, 1), 0x1021), 0xFFFF)
      else
        crc = band(lshift(crc, 1), 0xFFFF)
      end
    end
  end
  return crc
end

local proto = Proto("intrapump", "intrapump pump programming protocol")

local KINDS = {[0] = "REQUEST", [1] = "RESPONSE", [2] = "EVENT", [3] = "invalid"}
local hf = {
  sync = ProtoField.uint16("intrapump.sync", "Sync", base.HEX),
  version = ProtoField.uint8("intrapump.version", "Version", base.DEC),
  flags = ProtoField.uint8("intrapump.flags", "Flags", base.HEX),
  kind = ProtoField.uint8("intrapump.kind", "Kind", base.DEC, KINDS, 0x03),
  tag_flag = ProtoField.bool("intrapump.flags.tag", "TAG (a tag follows the payload)", 8, nil, 0x04),
  reserved = ProtoField.uint8("intrapump.flags.reserved", "Reserved bits", base.HEX, nil, 0xF8),
  session_id = ProtoField.uint32("intrapump.session_id", "Session id", base.HEX),
  seq = ProtoField.uint32("intrapump.seq", "Sequence number", base.DEC),
  msg_type = ProtoField.uint8("intrapump.msg_type", "Message type", base.HEX, ENUMS.MessageType),
  length = ProtoField.uint16("intrapump.payload_length", "Payload length", base.DEC),
  message = ProtoField.string("intrapump.message", "Message"),
  payload = ProtoField.bytes("intrapump.payload", "Payload"),
  tag = ProtoField.bytes("intrapump.tag", "Tag (HMAC-SHA256, first 16 bytes)"),
  tag_status = ProtoField.string("intrapump.tag.status", "Tag status"),
  crc = ProtoField.uint16("intrapump.crc", "CRC", base.HEX),
  crc_computed = ProtoField.uint16("intrapump.crc.computed", "CRC computed", base.HEX),
  crc_good = ProtoField.bool("intrapump.crc.good", "CRC good"),
  direction = ProtoField.string("intrapump.direction", "Direction"),
  noise = ProtoField.bytes("intrapump.not_a_frame", "Bytes that are not a frame"),
  extra = ProtoField.bytes("intrapump.extra", "Bytes after the frame"),
}

local ef = {
  not_a_frame = ProtoExpert.new("intrapump.expert.not_a_frame", "Bytes that are not a frame",
                                expert.group.MALFORMED, expert.severity.WARN),
  bad_crc = ProtoExpert.new("intrapump.expert.bad_crc", "Bad CRC",
                            expert.group.CHECKSUM, expert.severity.ERROR),
  bad_header = ProtoExpert.new("intrapump.expert.bad_header", "Invalid frame header",
                               expert.group.MALFORMED, expert.severity.ERROR),
  truncated = ProtoExpert.new("intrapump.expert.truncated", "Frame cut off",
                              expert.group.MALFORMED, expert.severity.ERROR),
  malformed = ProtoExpert.new("intrapump.expert.malformed_payload", "Payload does not parse",
                              expert.group.MALFORMED, expert.severity.ERROR),
  unknown_type = ProtoExpert.new("intrapump.expert.unknown_type", "Unknown message type",
                                 expert.group.UNDECODED, expert.severity.WARN),
  tag_problem = ProtoExpert.new("intrapump.expert.tag", "Tag inconsistent with the session",
                                expert.group.SECURITY, expert.severity.WARN),
  nak = ProtoExpert.new("intrapump.expert.nak", "The pump refused a request (NAK)",
                        expert.group.RESPONSE_CODE, expert.severity.NOTE),
  extra = ProtoExpert.new("intrapump.expert.extra", "Bytes after the frame in the same packet",
                          expert.group.MALFORMED, expert.severity.WARN),
}

-- One ProtoField per payload field name (and type): intrapump.f.<name>.
local FIXED = {u8 = 1, u16 = 2, u32 = 4, u64 = 8, i8 = 1, i16 = 2, i32 = 4, i64 = 8}
local SIGNED = {i8 = true, i16 = true, i32 = true, i64 = true}  -- two's complement (clock drift)
local MAKERS = {u8 = ProtoField.uint8, u16 = ProtoField.uint16, u32 = ProtoField.uint32,
                u64 = ProtoField.uint64, i8 = ProtoField.int8, i16 = ProtoField.int16,
                i32 = ProtoField.int32, i64 = ProtoField.int64}
local pf_by_key, pf_type_of = {}, {}

local function field_pf(f)
  local abbr = "intrapump.f." .. f.name
  if pf_type_of[abbr] ~= nil and pf_type_of[abbr] ~= f.type then
    abbr = abbr .. "_" .. f.type
  end
  if pf_by_key[abbr] then return pf_by_key[abbr] end
  local pf
  if MAKERS[f.type] then
    local names = f.enum and ENUMS[f.enum] or nil
    pf = MAKERS[f.type](abbr, f.name, base.DEC, names, nil, f.desc)
  elseif f.type == "text" then
    pf = ProtoField.string(abbr, f.name, base.UNICODE, f.desc)
  elseif f.type == "array" then
    pf = ProtoField.uint8(abbr, f.name .. " (count)", base.DEC, nil, nil, f.desc)
  elseif f.type == "struct" then
    pf = ProtoField.none(abbr, f.name, f.desc)
  else
    pf = ProtoField.bytes(abbr, f.name, base.SPACE, f.desc)
  end
  pf_by_key[abbr], pf_type_of[abbr] = pf, f.type
  f.pf = pf
  return pf
end

local function register_fields(fields)
  for _, f in ipairs(fields) do
    f.pf = field_pf(f)
    if f.item then
      f.item_pf = f.item_pf or field_pf({name = f.name .. ".item", type = "struct",
                                          desc = "one entry of " .. f.name})
      register_fields(f.item)
    end
  end
end
for _, m in pairs(MESSAGES) do register_fields(m.fields) end

local all_fields = {}
for _, pf in pairs(hf) do all_fields[#all_fields + 1] = pf end
for _, pf in pairs(pf_by_key) do all_fields[#all_fields + 1] = pf end
proto.fields = all_fields
local all_experts = {}
for _, e in pairs(ef) do all_experts[#all_experts + 1] = e end
proto.experts = all_experts

local function bit_names(value, names)
  local out = {}
  for bitno = 0, 15 do
    if band(value, lshift(1, bitno)) ~= 0 then out[#out + 1] = names[bitno] or tostring(bitno) end
  end
  if #out == 0 then return "none" end
  return table.concat(out, "|")
end

local function show(f, value)
  if f.enum and ENUMS[f.enum] and ENUMS[f.enum][value] then return ENUMS[f.enum][value] end
  return tostring(value)
end

-- Decode `fields` from tvb[off, stop); returns the new offset, or nil and the reason.
local function dissect_fields(fields, tvb, off, stop, tree, notes)
  for _, f in ipairs(fields) do
    local size = FIXED[f.type]
    if size then
      if off + size > stop then return nil, f.name .. ": payload too short" end
      local range = tvb(off, size)
      local item = tree:add(f.pf, range)
      if size <= 4 then
        local value = SIGNED[f.type] and range:int() or range:uint()
        if f.bitmask then item:append_text(" (" .. bit_names(value, ENUMS[f.bitmask]) .. ")") end
        if notes then notes[#notes + 1] = f.name .. "=" .. show(f, value) end
      elseif notes then
        notes[#notes + 1] = f.name .. "=" .. tostring(SIGNED[f.type] and range:int64() or range:uint64())
      end
      off = off + size
    elseif f.type == "bytes" then
      if off + f.len > stop then return nil, f.name .. ": payload too short" end
      tree:add(f.pf, tvb(off, f.len))
      off = off + f.len
    elseif f.type == "text" then
      if off + 1 > stop then return nil, f.name .. ": payload too short" end
      local n = tvb(off, 1):uint()
      if n > f.max then return nil, f.name .. ": " .. n .. " bytes > " .. f.max end
      if off + 1 + n > stop then return nil, f.name .. ": text runs past the payload" end
      local text = n > 0 and tvb(off + 1, n):string(ENC_UTF_8) or ""
      tree:add(f.pf, tvb(off, 1 + n), text)
      if notes then notes[#notes + 1] = f.name .. "=\"" .. text .. "\"" end
      off = off + 1 + n
    elseif f.type == "array" then
      if off + 1 > stop then return nil, f.name .. ": payload too short" end
      local count = tvb(off, 1):uint()
      local sub = tree:add(f.pf, tvb(off, 1))
      if count > f.max then return nil, f.name .. ": " .. count .. " entries > " .. f.max end
      if notes then notes[#notes + 1] = f.name .. "=" .. count end
      off = off + 1
      for i = 1, count do
        local start = off
        local entry = sub:add(f.item_pf, tvb(off, math.max(0, math.min(1, stop - off))))
        entry:set_text(f.name .. "[" .. (i - 1) .. "]")
        local reason
        off, reason = dissect_fields(f.item, tvb, off, stop, entry, nil)
        if not off then return nil, reason end
        entry:set_len(off - start)
      end
    elseif f.type == "struct" then
      local sub = tree:add(f.pf, tvb(off, math.max(0, math.min(1, stop - off))))
      local start, reason = off, nil
      off, reason = dissect_fields(f.item, tvb, off, stop, sub, nil)
      if not off then return nil, reason end
      sub:set_len(off - start)
    else -- "rest": a field the generator could not describe
      if stop > off then tree:add(f.pf, tvb(off, stop - off)) end
      off = stop
    end
  end
  return off
end

local function direction_text(kind, pinfo)
  if kind == 0 then return "host > pump" end
  if kind == 1 or kind == 2 then return "pump > host" end
  if pinfo.p2p_dir == 0 then return "sent by the recording end" end
  if pinfo.p2p_dir == 1 then return "received by the recording end" end
  return "unknown"
end

local function dissect_noise(tvb, pinfo, tree)
  pinfo.cols.info = string.format("not a frame (%d bytes)", tvb:len())
  local sub = tree:add(proto, tvb(), "intrapump: bytes that are not a frame")
  sub:add(hf.direction, direction_text(-1, pinfo))
  local item = sub:add(hf.noise, tvb())
  item:add_proto_expert_info(ef.not_a_frame, string.format("%d bytes that are not a frame", tvb:len()))
  return tvb:len()
end

-- The header (offsets 0..14): adds its fields; returns the decoded values.
local function dissect_header(tvb, pinfo, root)
  local h = {version = tvb(2, 1):uint(), flags = tvb(3, 1):uint(), session_id = tvb(4, 4):uint(),
             seq = tvb(8, 4):uint(), msg_type = tvb(12, 1):uint(), plen = tvb(13, 2):uint()}
  h.kind, h.tagged = band(h.flags, 0x03), band(h.flags, 0x04) ~= 0
  h.message = MESSAGES[h.msg_type]
  h.name = h.message and h.message.name or string.format("0x%02X", h.msg_type)
  root:add(hf.direction, direction_text(h.kind, pinfo))
  local vitem = root:add(hf.version, tvb(2, 1))
  if h.version ~= PROTOCOL_VERSION then
    vitem:add_proto_expert_info(ef.bad_header, "unsupported protocol version " .. h.version)
  end
  local fitem = root:add(hf.flags, tvb(3, 1))
  fitem:add(hf.kind, tvb(3, 1))
  fitem:add(hf.tag_flag, tvb(3, 1))
  local ritem = fitem:add(hf.reserved, tvb(3, 1))
  if band(h.flags, 0xF8) ~= 0 then ritem:add_proto_expert_info(ef.bad_header, "reserved flag bits set") end
  if h.kind == 3 then fitem:add_proto_expert_info(ef.bad_header, "frame kind 3 is invalid") end
  root:add(hf.session_id, tvb(4, 4))
  root:add(hf.seq, tvb(8, 4))
  h.type_item = root:add(hf.msg_type, tvb(12, 1))
  h.length_item = root:add(hf.length, tvb(13, 2))
  pinfo.cols.info = string.format("%s %s seq=%d", h.name, KINDS[h.kind] or "?", h.seq)
  root:set_text(string.format("intrapump %s %s, session 0x%08X, seq %d", KINDS[h.kind] or "?",
                              h.name, h.session_id, h.seq))
  return h
end

-- The payload: the message's fields, or why they do not parse.
local function dissect_payload(tvb, pinfo, root, h)
  local body = HEADER_BYTES + h.plen
  local m = h.message
  if m == nil then
    h.type_item:add_proto_expert_info(ef.unknown_type,
      string.format("message type 0x%02X is not in the protocol", h.msg_type))
    if h.plen > 0 then root:add(hf.payload, tvb(HEADER_BYTES, h.plen)) end
    return
  end
  local mtree = root:add(hf.message, tvb(12, 1), m.name)
  mtree:append_text(" (" .. m.kind .. ": " .. m.summary .. ")")
  local ptree = h.plen > 0 and mtree:add(hf.payload, tvb(HEADER_BYTES, h.plen)) or mtree
  local notes = {}
  local stop, reason = dissect_fields(m.fields, tvb, HEADER_BYTES, body, ptree, notes)
  if not stop then
    mtree:add_proto_expert_info(ef.malformed, reason)
    pinfo.cols.info = tostring(pinfo.cols.info) .. " [malformed: " .. reason .. "]"
  elseif stop ~= body then
    mtree:add_proto_expert_info(ef.malformed, string.format("%d trailing bytes", body - stop))
    pinfo.cols.info = tostring(pinfo.cols.info) .. " [malformed: trailing bytes]"
  elseif #notes > 0 then
    local shown = {}
    for i = 1, math.min(#notes, 4) do shown[i] = notes[i] end
    pinfo.cols.info = tostring(pinfo.cols.info) .. " " .. table.concat(shown, " ")
  end
  if m.name == "NAK" then mtree:add_proto_expert_info(ef.nak, table.concat(notes, " ")) end
end

-- The tag: present or not, and whether that fits the session id (it is not verified).
local function dissect_tag(tvb, root, h, at)
  local status
  if h.tagged then
    root:add(hf.tag, tvb(at, TAG_BYTES))
    if h.session_id == 0 then
      status = "present, but the frame has no session (invalid)"
    else
      status = "present (not verified: needs the session key)"
    end
  elseif h.session_id ~= 0 then
    status = "missing in a session frame (invalid)"
  else
    status = "absent (no session)"
  end
  local sitem = root:add(hf.tag_status, status)
  if h.tagged == (h.session_id == 0) then sitem:add_proto_expert_info(ef.tag_problem, status) end
end

-- The CRC at `at`, checked over everything before it.
local function dissect_crc(tvb, pinfo, root, at)
  local computed = crc16(tvb(0, at):bytes(), at)
  local sent = tvb(at, CRC_BYTES):uint()
  local citem = root:add(hf.crc, tvb(at, CRC_BYTES))
  citem:add(hf.crc_computed, computed):set_generated()
  citem:add(hf.crc_good, computed == sent):set_generated()
  if computed ~= sent then
    citem:append_text(string.format(" [bad: computed 0x%04X]", computed))
    citem:add_proto_expert_info(ef.bad_crc, string.format("CRC 0x%04X, computed 0x%04X", sent, computed))
    pinfo.cols.info = tostring(pinfo.cols.info) .. " [BAD CRC]"
  else
    citem:append_text(" [good]")
  end
end

function proto.dissector(tvb, pinfo, tree)
  local len = tvb:len()
  if len == 0 then return 0 end
  pinfo.cols.protocol = "intrapump"
  if len < 2 or tvb(0, 2):uint() ~= 0xA55A then return dissect_noise(tvb, pinfo, tree) end
  local root = tree:add(proto, tvb(), "intrapump frame")
  root:add(hf.sync, tvb(0, 2))
  if len < HEADER_BYTES then
    root:add_proto_expert_info(ef.truncated, string.format("%d bytes, a header needs %d", len, HEADER_BYTES))
    pinfo.cols.info = "frame cut off in the header"
    return len
  end
  local h = dissect_header(tvb, pinfo, root)
  if h.plen > MAX_PAYLOAD then
    h.length_item:add_proto_expert_info(ef.bad_header, string.format("payload length %d > %d", h.plen, MAX_PAYLOAD))
    return len
  end
  local tag_len = h.tagged and TAG_BYTES or 0
  local total = HEADER_BYTES + h.plen + tag_len + CRC_BYTES
  if len < total then
    root:add_proto_expert_info(ef.truncated, string.format("%d bytes of a %d-byte frame", len, total))
    pinfo.cols.info = tostring(pinfo.cols.info) .. " [cut off]"
    return len
  end
  dissect_payload(tvb, pinfo, root, h)
  dissect_tag(tvb, root, h, HEADER_BYTES + h.plen)
  dissect_crc(tvb, pinfo, root, HEADER_BYTES + h.plen + tag_len)
  if len > total then
    local xitem = root:add(hf.extra, tvb(total, len - total))
    xitem:add_proto_expert_info(ef.extra, string.format("%d bytes after the frame", len - total))
  end
  return len
end

local user0 = (wtap_encaps and wtap_encaps.USER0) or (wtap and wtap.USER0) or 45
DissectorTable.get("wtap_encap"):add(user0, proto)
