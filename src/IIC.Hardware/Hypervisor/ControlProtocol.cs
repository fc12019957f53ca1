using System.Buffers.Binary;
using System.Text;

namespace IIC.Hardware;

/// <summary>Control message types (docs/control-protocol.md).</summary>
internal enum ControlMessageType : ushort
{
    /// <summary>Partition to hypervisor: attach with a partition name.</summary>
    Attach = 1,
    /// <summary>Hypervisor to partition: attached; carries the partition id.</summary>
    Attached = 2,
    /// <summary>Hypervisor to partition: a request failed; carries an error code and a reason.</summary>
    Error = 3,
    /// <summary>Partition to hypervisor: offer a service.</summary>
    Listen = 4,
    /// <summary>Hypervisor to partition: the service is offered.</summary>
    Listening = 5,
    /// <summary>Partition to hypervisor: connect to a service (waits up to a timeout for it to appear).</summary>
    Connect = 6,
    /// <summary>Hypervisor to the connecting partition: a window (SCM_RIGHTS) and side 1 of it.</summary>
    Connected = 7,
    /// <summary>Hypervisor to the listening partition: a window (SCM_RIGHTS) and side 0 of it.</summary>
    Incoming = 8,
    /// <summary>Partition to hypervisor: stop offering a service.</summary>
    Unlisten = 9,
    /// <summary>Partition to hypervisor: this partition is done with a connection (the grant can be released).</summary>
    Release = 10,
    /// <summary>Hypervisor to partition: the peer of a connection died (its side was marked dead).</summary>
    PeerDied = 11,
    /// <summary>Partition to hypervisor (version 4): forget the waiting Connect with this request id (its caller gave up); no reply.</summary>
    Cancel = 12,
    /// <summary>Partition to hypervisor (version 4): the application took this many more connections of a service (accepted, or dropped unaccepted): listen-backlog credit; no reply.</summary>
    Accepted = 13,
}

/// <summary>Why the hypervisor refused a request.</summary>
public enum ControlError : uint
{
    /// <summary>The message was malformed (the hypervisor also disconnects the sender).</summary>
    BadMessage = 1,
    /// <summary>The policy does not allow it.</summary>
    PolicyDenied = 2,
    /// <summary>The service is already offered by a partition.</summary>
    DuplicateService = 3,
    /// <summary>No partition offered the service within the timeout.</summary>
    UnknownService = 4,
    /// <summary>The request needs an attached partition.</summary>
    NotAttached = 5,
    /// <summary>A limit was exceeded (ring size, number of grants).</summary>
    LimitExceeded = 6,
    /// <summary>The hypervisor is shutting down.</summary>
    ShuttingDown = 7,
    /// <summary>Another attached partition holds the name, or the name is reserved for another uid (version 2).</summary>
    DuplicateName = 8,
    /// <summary>The hypervisor ran out of a kernel resource (descriptors, memory) for this request; retry later (version 2).</summary>
    ResourceExhausted = 9,
    /// <summary>
    /// The service's listener did not take the connection: it read nothing from its control socket for
    /// <see cref="HypervisorOptions.AcceptStallTimeout"/> with its accept queue full (stopped or hung), or it stayed
    /// too busy for the connect's timeout, or the connect had no timeout and its accept queue was full; the reason
    /// names the listener (version 3).
    /// </summary>
    NotAccepting = 10,
}

/// <summary>
/// The hypervisor's control protocol, version 4 (grants carry the peer's pidfd and the pair group pages; requests carry
/// no descriptors; a waiting Connect can be cancelled): one SOCK_SEQPACKET message per request, reply or
/// notification, little-endian, with a fixed 16-byte header
/// <c>[magic "IICP":u32][version:u16][type:u16][length:u32 (whole message)][request id:u32]</c>
/// followed by the type's fields. Strings are <c>[byte count:u16][UTF-8]</c>. Every field is length-checked;
/// a malformed message gets its sender disconnected.
/// </summary>
internal static class ControlProtocol
{
    /// <summary>"IICP" little-endian.</summary>
    public const uint Magic = 0x50434949;

    /// <summary>The protocol version.</summary>
    public const ushort Version = 4;

    /// <summary>Header bytes.</summary>
    public const int HeaderSize = 16;

    /// <summary>The largest control message.</summary>
    public const int MaxMessageSize = 1024;

    /// <summary>A service's listen backlog when its Listen names none: connections granted that its application has not taken yet.</summary>
    public const int DefaultListenBacklog = 64;

    /// <summary>The largest listen backlog a Listen may ask for.</summary>
    public const int MaxListenBacklog = 65536;

    /// <summary>The longest partition or service name, in UTF-8 bytes.</summary>
    public const int MaxNameLength = NameRules.MaxLength;

    /// <summary>Throws unless <paramref name="name"/> is a valid partition or service name.</summary>
    /// <exception cref="ArgumentException">It is empty, too long, or has characters other than letters, digits, '.', '_', '-' and '/'.</exception>
    public static void ValidateName(string name, string parameterName)
    {
        NameRules.ThrowIfNotName(name, parameterName);
    }
}

/// <summary>Writes a request's fields with a static lambda and its state (no closure, no boxing per request).</summary>
internal delegate void ControlBody<in TState>(ref ControlWriter writer, TState state);

/// <summary>Builds one control message in a caller's buffer.</summary>
internal ref struct ControlWriter
{
    private readonly Span<byte> _buffer;
    private int _position;

    public ControlWriter(Span<byte> buffer, ControlMessageType type, uint requestId)
    {
        _buffer = buffer;
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, ControlProtocol.Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(buffer[4..], ControlProtocol.Version);
        BinaryPrimitives.WriteUInt16LittleEndian(buffer[6..], (ushort)type);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer[12..], requestId);
        _position = ControlProtocol.HeaderSize;
    }

    public void WriteUInt32(uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer[_position..], value);
        _position += 4;
    }

    public void WriteInt64(long value)
    {
        BinaryPrimitives.WriteInt64LittleEndian(_buffer[_position..], value);
        _position += 8;
    }

    public void WriteString(string value)
    {
        var count = Encoding.UTF8.GetBytes(value, _buffer[(_position + 2)..]);
        if (count > ushort.MaxValue)
        {
            throw new ArgumentException("A control string is at most 65535 bytes.", nameof(value));
        }
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer[_position..], (ushort)count);
        _position += 2 + count;
    }

    /// <summary>Stores the length and returns the finished message.</summary>
    public readonly ReadOnlySpan<byte> Finish()
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer[8..], (uint)_position);
        return _buffer[.._position];
    }
}

/// <summary>Reads one received control message; every read is bounds-checked and fails with <see cref="InvalidDataException"/>.</summary>
internal ref struct ControlReader
{
    private static readonly UTF8Encoding s_strictUtf8 = new(false, throwOnInvalidBytes: true); // thread safe; one for all reads
    private readonly ReadOnlySpan<byte> _message;
    private int _position;

    /// <summary>Validates the header of <paramref name="message"/> (exactly the received bytes).</summary>
    /// <exception cref="InvalidDataException">Bad magic, version or length.</exception>
    public ControlReader(ReadOnlySpan<byte> message)
    {
        if (message.Length < ControlProtocol.HeaderSize || message.Length > ControlProtocol.MaxMessageSize)
        {
            throw new InvalidDataException($"A control message must be {ControlProtocol.HeaderSize} to {ControlProtocol.MaxMessageSize} bytes; got {message.Length}.");
        }
        var magic = BinaryPrimitives.ReadUInt32LittleEndian(message);
        var version = BinaryPrimitives.ReadUInt16LittleEndian(message[4..]);
        var length = BinaryPrimitives.ReadUInt32LittleEndian(message[8..]);
        if (magic != ControlProtocol.Magic || version != ControlProtocol.Version || length != message.Length)
        {
            throw new InvalidDataException($"Bad control header: magic 0x{magic:x8}, version {version} (want {ControlProtocol.Version}), length {length} for {message.Length} bytes received.");
        }
        _message = message;
        Type = (ControlMessageType)BinaryPrimitives.ReadUInt16LittleEndian(message[6..]);
        RequestId = BinaryPrimitives.ReadUInt32LittleEndian(message[12..]);
        _position = ControlProtocol.HeaderSize;
    }

    public ControlMessageType Type { get; }

    public uint RequestId { get; }

    public readonly int Remaining => _message.Length - _position;

    public uint ReadUInt32()
    {
        var value = BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
        return value;
    }

    public long ReadInt64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

    public string ReadString(int maxBytes)
    {
        var count = BinaryPrimitives.ReadUInt16LittleEndian(Take(2));
        if (count > maxBytes)
        {
            throw new InvalidDataException($"A control string of {count} bytes exceeds the limit of {maxBytes}.");
        }
        try
        {
            return s_strictUtf8.GetString(Take(count));
        }
        catch (DecoderFallbackException e)
        {
            throw new InvalidDataException("A control string is not valid UTF-8.", e);
        }
    }

    /// <summary>Throws unless every byte was read (trailing garbage is malformed too).</summary>
    public readonly void EnsureEnd()
    {
        if (_position != _message.Length)
        {
            throw new InvalidDataException($"A {Type} message has {_message.Length - _position} unexpected trailing bytes.");
        }
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count > _message.Length - _position)
        {
            throw new InvalidDataException($"A {Type} message is truncated: needs {count} more bytes at offset {_position} of {_message.Length}.");
        }
        var span = _message.Slice(_position, count);
        _position += count;
        return span;
    }
}
