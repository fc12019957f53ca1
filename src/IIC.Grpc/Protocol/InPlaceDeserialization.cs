using System.Buffers;
using Grpc.Core;

namespace IIC.Grpc.Protocol;

/// <summary>
/// Deserializes a message where it lies (in the ring, during the reader thread's frame callback) instead of copying it
/// into a pooled array first: for a single message carried whole in one frame whose deserialized object is all that
/// outlives the frame. The marshaller sees the bytes only during its call (grpc-dotnet's own contract: its payload
/// sequence is the HTTP/2 pipe's buffer, released right after); Google.Protobuf copies what it keeps. Context and memory
/// manager are cached per thread: nothing is allocated per message beyond what the marshaller allocates.
/// </summary>
internal static unsafe class InPlaceDeserialization
{
    [ThreadStatic]
    private static SpanDeserializationContext? t_context;

    /// <summary>Deserializes <paramref name="payload"/>, valid only during this call.</summary>
    /// <exception cref="RpcException">Internal when the marshaller fails.</exception>
    public static T Deserialize<T>(Marshaller<T> marshaller, ReadOnlySpan<byte> payload)
    {
        var context = t_context ??= new SpanDeserializationContext();
        // Ring memory is a mapping that never moves (fixed is free there); a managed span gets pinned for the call.
        fixed (byte* bytes = payload)
        {
            context.Start(bytes, payload.Length);
            try
            {
                return marshaller.ContextualDeserializer(context);
            }
            catch (Exception e) when (e is not RpcException)
            {
                throw new RpcException(new Status(StatusCode.Internal, "Error deserializing message. " + e.Message, e));
            }
            finally
            {
                context.Start(null, 0); // the bytes are gone after this call: nothing may reach them through the context
            }
        }
    }

    /// <summary>A deserialization context over bytes pinned for the duration of one deserializer call.</summary>
#pragma warning disable CA1001 // PointerMemory owns nothing: its Dispose is empty, and the context lives as long as its thread.
    private sealed class SpanDeserializationContext : DeserializationContext
#pragma warning restore CA1001
    {
        private readonly PointerMemory _memory = new();
        private int _length;

        public void Start(byte* bytes, int length)
        {
            _memory.Set(bytes, length);
            _length = length;
        }

        public override int PayloadLength => _length;

        public override byte[] PayloadAsNewBuffer() => _memory.GetSpan().ToArray();

        public override ReadOnlySequence<byte> PayloadAsReadOnlySequence() => new(_memory.Memory);
    }

    /// <summary>Memory over a pointer, valid while it is set (the deserializer's call); empty otherwise.</summary>
    private sealed class PointerMemory : MemoryManager<byte>
    {
        private byte* _bytes;
        private int _length;

        public void Set(byte* bytes, int length)
        {
            _bytes = bytes;
            _length = length;
        }

        public override Span<byte> GetSpan() => new(_bytes, _length);

        public override MemoryHandle Pin(int elementIndex = 0)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(elementIndex);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(elementIndex, _length);
            return new MemoryHandle(_bytes + elementIndex); // already fixed for as long as it may be used
        }

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
        }
    }
}
