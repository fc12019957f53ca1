using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace IIC.Grpc.Protocol;

/// <summary>
/// A growable byte buffer from <see cref="ArrayPool{T}"/> in which one frame (or one serialized message behind room
/// for its first chunk header) is built before it is copied into the channel. One per thread is cached
/// (<see cref="Rent"/> / <see cref="Return"/>), so building a frame allocates nothing in the steady state.
/// </summary>
internal sealed class FrameBuilder : IBufferWriter<byte>
{
    private const int InitialCapacity = 4096;
    private const int MaxCachedCapacity = 1 << 20;

    [ThreadStatic]
    private static FrameBuilder? t_cached;

    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(InitialCapacity);
    private int _length;

    /// <summary>A builder for this thread, empty.</summary>
    public static FrameBuilder Rent()
    {
        var builder = t_cached ?? new FrameBuilder();
        t_cached = null;
        builder._length = 0;
        return builder;
    }

    /// <summary>Gives a builder back to this thread's cache (a huge buffer goes back to the pool instead).</summary>
    public static void Return(FrameBuilder builder)
    {
        if (builder._buffer.Length > MaxCachedCapacity)
        {
            ArrayPool<byte>.Shared.Return(builder._buffer);
            builder._buffer = ArrayPool<byte>.Shared.Rent(InitialCapacity);
        }
        t_cached = builder;
    }

    /// <summary>Bytes written so far.</summary>
    public int Length => _length;

    /// <summary>The bytes written so far (valid until the next write).</summary>
    public Span<byte> Written => _buffer.AsSpan(0, _length);

    /// <summary>The underlying array (valid until the next write).</summary>
    public byte[] Buffer => _buffer;

    /// <summary>Reserves <paramref name="count"/> bytes (filled in later) and returns them.</summary>
    public Span<byte> Reserve(int count)
    {
        var span = GetSpan(count)[..count];
        _length += count;
        return span;
    }

    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (_length + count > _buffer.Length)
        {
            throw new InvalidOperationException("Advanced past the buffer handed out.");
        }
        _length += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        EnsureFree(sizeHint);
        return _buffer.AsMemory(_length);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        EnsureFree(sizeHint);
        return _buffer.AsSpan(_length);
    }

    /// <summary>Makes room for at least <paramref name="count"/> more bytes (at least one).</summary>
    public void EnsureFree(int count)
    {
        count = Math.Max(count, 1);
        if (_buffer.Length - _length >= count)
        {
            return;
        }
        var needed = (long)_length + count;
        if (needed > Array.MaxLength)
        {
            throw new InvalidOperationException($"A frame cannot exceed {Array.MaxLength} bytes.");
        }
        var grown = ArrayPool<byte>.Shared.Rent((int)Math.Min(Array.MaxLength, Math.Max(needed, (long)_buffer.Length * 2)));
        _buffer.AsSpan(0, _length).CopyTo(grown);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = grown;
    }

    public void WriteByte(byte value) => Reserve(1)[0] = value;

    public void WriteUInt16(ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(Reserve(2), value);

    public void WriteInt32(int value) => BinaryPrimitives.WriteInt32LittleEndian(Reserve(4), value);

    public void WriteUInt32(uint value) => BinaryPrimitives.WriteUInt32LittleEndian(Reserve(4), value);

    public void WriteInt64(long value) => BinaryPrimitives.WriteInt64LittleEndian(Reserve(8), value);

    public void Write(ReadOnlySpan<byte> bytes) => bytes.CopyTo(Reserve(bytes.Length));

    /// <summary>Writes a u16 length and the UTF-8 bytes of <paramref name="text"/>.</summary>
    /// <exception cref="ArgumentException">The text is longer than 65535 UTF-8 bytes.</exception>
    public void WriteShortString(string text)
    {
        var count = Encoding.UTF8.GetByteCount(text);
        if (count > ushort.MaxValue)
        {
            throw new ArgumentException($"'{text[..Math.Min(40, text.Length)]}...' is {count} UTF-8 bytes; names and keys are limited to 65535.", nameof(text));
        }
        WriteUInt16((ushort)count);
        Encoding.UTF8.GetBytes(text, Reserve(count));
    }

    /// <summary>Writes a u32 length and the UTF-8 bytes of <paramref name="text"/>.</summary>
    public void WriteLongString(string text)
    {
        var count = Encoding.UTF8.GetByteCount(text);
        WriteUInt32((uint)count);
        Encoding.UTF8.GetBytes(text, Reserve(count));
    }
}
