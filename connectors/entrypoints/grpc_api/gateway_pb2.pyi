from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_UNSPECIFIED: _ClassVar[Outcome]
    ACKED: _ClassVar[Outcome]
    NOT_SENT: _ClassVar[Outcome]
    UNKNOWN: _ClassVar[Outcome]
    REFUSED: _ClassVar[Outcome]
    ACCEPTED: _ClassVar[Outcome]

class Start(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LATEST: _ClassVar[Start]
    EARLIEST: _ClassVar[Start]
OUTCOME_UNSPECIFIED: Outcome
ACKED: Outcome
NOT_SENT: Outcome
UNKNOWN: Outcome
REFUSED: Outcome
ACCEPTED: Outcome
LATEST: Start
EARLIEST: Start

class PublishRequest(_message.Message):
    __slots__ = ("channel", "payload", "content_type", "key", "headers", "id")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    channel: str
    payload: bytes
    content_type: str
    key: str
    headers: _containers.ScalarMap[str, str]
    id: str
    def __init__(self, channel: _Optional[str] = ..., payload: _Optional[bytes] = ..., content_type: _Optional[str] = ..., key: _Optional[str] = ..., headers: _Optional[_Mapping[str, str]] = ..., id: _Optional[str] = ...) -> None: ...

class PublishReply(_message.Message):
    __slots__ = ("id", "outcome", "partition", "offset", "cursor", "problem")
    ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    id: str
    outcome: Outcome
    partition: int
    offset: int
    cursor: str
    problem: str
    def __init__(self, id: _Optional[str] = ..., outcome: _Optional[_Union[Outcome, str]] = ..., partition: _Optional[int] = ..., offset: _Optional[int] = ..., cursor: _Optional[str] = ..., problem: _Optional[str] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("channel", "cursor", "start")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    channel: str
    cursor: str
    start: Start
    def __init__(self, channel: _Optional[str] = ..., cursor: _Optional[str] = ..., start: _Optional[_Union[Start, str]] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("cursor", "name", "partition", "offset", "timestamp_ms", "key", "headers", "content_type", "payload", "address")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    name: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes
    headers: _containers.ScalarMap[str, bytes]
    content_type: str
    payload: bytes
    address: str
    def __init__(self, cursor: _Optional[str] = ..., name: _Optional[str] = ..., partition: _Optional[int] = ..., offset: _Optional[int] = ..., timestamp_ms: _Optional[int] = ..., key: _Optional[bytes] = ..., headers: _Optional[_Mapping[str, bytes]] = ..., content_type: _Optional[str] = ..., payload: _Optional[bytes] = ..., address: _Optional[str] = ...) -> None: ...

class Restart(_message.Message):
    __slots__ = ("cursor", "reason", "partition", "requested", "restart")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_FIELD_NUMBER: _ClassVar[int]
    RESTART_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    reason: str
    partition: int
    requested: int
    restart: int
    def __init__(self, cursor: _Optional[str] = ..., reason: _Optional[str] = ..., partition: _Optional[int] = ..., requested: _Optional[int] = ..., restart: _Optional[int] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("message", "restart")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RESTART_FIELD_NUMBER: _ClassVar[int]
    message: Message
    restart: Restart
    def __init__(self, message: _Optional[_Union[Message, _Mapping]] = ..., restart: _Optional[_Union[Restart, _Mapping]] = ...) -> None: ...
