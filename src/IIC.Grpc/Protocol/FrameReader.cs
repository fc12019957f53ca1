using System.Buffers.Binary;
using System.Text;

namespace IIC.Grpc.Protocol;

/// <summary>
/// Reads a frame body that lies in the channel's ring, field by field. Every length is checked against what is
/// left: a frame from a broken or hostile peer throws <see cref="InvalidDataException"/>, never reads past its end.
/// </summary>
internal ref struct FrameReader(ReadOnlySpan<byte> body)
{
    private ReadOnlySpan<byte> _rest = body;

    /// <summary>What has not been read.</summary>
    public readonly ReadOnlySpan<byte> Rest => _rest;

    public byte ReadByte() => Take(1)[0];

    public ushort ReadUInt16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));

    public int ReadInt32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));

    public uint ReadUInt32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

    public long ReadInt64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

    public string ReadShortString() => Encoding.UTF8.GetString(ReadShortStringBytes());

    /// <summary>A <c>str16</c>'s UTF-8 bytes, in place (no string made).</summary>
    public ReadOnlySpan<byte> ReadShortStringBytes() => Take(ReadUInt16());

    public string ReadLongString() => Encoding.UTF8.GetString(Take(checked((int)Math.Min(ReadUInt32(), int.MaxValue))));

    /// <summary>The next <paramref name="count"/> bytes.</summary>
    /// <exception cref="InvalidDataException">Fewer are left.</exception>
    public ReadOnlySpan<byte> Take(int count)
    {
        if ((uint)count > (uint)_rest.Length)
        {
            throw new InvalidDataException($"A call frame is truncated: a field wants {count} bytes and {_rest.Length} are left (the peer is broken).");
        }
        var taken = _rest[..count];
        _rest = _rest[count..];
        return taken;
    }
}
