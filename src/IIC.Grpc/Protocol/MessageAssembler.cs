using System.Buffers;
using System.Buffers.Binary;

namespace IIC.Grpc.Protocol;

/// <summary>
/// Gathers the chunks of one message of one call into one pooled array. The total length comes first (in the first
/// chunk), so the limit is checked before any byte is buffered and the array is rented once.
/// </summary>
internal struct MessageAssembler
{
    private byte[]? _buffer;
    private int _length;
    private int _filled;

    /// <summary>
    /// Adds one Message frame's body. Returns true with the whole message when the last chunk arrived.
    /// </summary>
    /// <exception cref="InvalidDataException">Chunks out of order or longer than announced (a broken peer).</exception>
    /// <exception cref="MessageLimitException">The announced length is above <paramref name="maxLength"/>.</exception>
    public bool Add(FrameFlags flags, ReadOnlySpan<byte> body, int maxLength, out ReceivedMessage message)
    {
        message = default;
        if ((flags & FrameFlags.First) != 0)
        {
            if (_buffer is not null)
            {
                throw new InvalidDataException("A message started before the previous one ended (the peer is broken).");
            }
            if (body.Length < 4)
            {
                throw new InvalidDataException("A first message chunk has no length (the peer is broken).");
            }
            var total = BinaryPrimitives.ReadUInt32LittleEndian(body);
            if (total > (uint)maxLength)
            {
                throw new MessageLimitException(total, maxLength);
            }
            _length = (int)total;
            _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(_length, 1));
            _filled = 0;
            body = body[4..];
        }
        else if (_buffer is null)
        {
            throw new InvalidDataException("A message chunk came without a first chunk (the peer is broken).");
        }
        if (body.Length > _length - _filled)
        {
            Reset();
            throw new InvalidDataException("A message is longer than its first chunk announced (the peer is broken).");
        }
        body.CopyTo(_buffer.AsSpan(_filled));
        _filled += body.Length;
        if ((flags & FrameFlags.Last) == 0)
        {
            return false;
        }
        if (_filled != _length)
        {
            Reset();
            throw new InvalidDataException("A message ended shorter than its first chunk announced (the peer is broken).");
        }
        message = new ReceivedMessage(_buffer, _length);
        _buffer = null;
        return true;
    }

    /// <summary>Whether no message is being gathered (no first chunk without its last).</summary>
    public readonly bool IsIdle => _buffer is null;

    /// <summary>Gives a partial message's array back.</summary>
    public void Reset()
    {
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }
    }
}
