using System.Buffers;

namespace IIC.Grpc.Protocol;

/// <summary>One whole serialized message received, in an array rented from <see cref="ArrayPool{T}"/>.</summary>
internal readonly record struct ReceivedMessage(byte[] Buffer, int Length)
{
    /// <summary>Gives the array back to the pool.</summary>
    public void Return()
    {
        if (Buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(Buffer);
        }
    }
}
