using System.Buffers;
using Grpc.Core;

namespace IIC.Grpc.Protocol;

/// <summary>
/// Serializes a message with its method's marshaller straight into a <see cref="FrameBuilder"/>, behind room for the
/// first chunk's header, and deserializes one from a pooled array. Contexts are cached per thread: no allocation
/// per message beyond what the marshaller itself allocates.
/// </summary>
internal static class Serialization
{
    [ThreadStatic]
    private static BuilderSerializationContext? t_serialization;

    [ThreadStatic]
    private static ArrayDeserializationContext? t_deserialization;

    /// <summary>
    /// Serializes <paramref name="message"/> into a fresh builder: bytes [<see cref="Frame.FirstChunkHeaderLength"/>, Length)
    /// are the message. The caller returns the builder.
    /// </summary>
    /// <exception cref="RpcException">ResourceExhausted when longer than <paramref name="maxLength"/>; Internal when the marshaller fails.</exception>
    public static FrameBuilder Serialize<T>(Marshaller<T> marshaller, T message, int maxLength)
    {
        var builder = FrameBuilder.Rent();
        builder.Reserve(Frame.FirstChunkHeaderLength);
        var context = t_serialization ??= new BuilderSerializationContext();
        context.Start(builder);
        try
        {
            marshaller.ContextualSerializer(message, context);
            if (!context.Completed)
            {
                throw new InvalidOperationException("The marshaller did not complete the serialization context.");
            }
        }
        catch (Exception e) when (e is not RpcException)
        {
            FrameBuilder.Return(builder);
            throw new RpcException(new Status(StatusCode.Internal, "Error serializing message. " + e.Message, e));
        }
        finally
        {
            context.Start(null);
        }
        var length = builder.Length - Frame.FirstChunkHeaderLength;
        if (length > maxLength)
        {
            FrameBuilder.Return(builder);
            throw new RpcException(new Status(StatusCode.ResourceExhausted, $"Sending message exceeds the maximum configured message size ({length} > {maxLength} bytes)."));
        }
        return builder;
    }

    /// <summary>Deserializes and gives the array back to the pool.</summary>
    /// <exception cref="RpcException">Internal when the marshaller fails.</exception>
    public static T Deserialize<T>(Marshaller<T> marshaller, ReceivedMessage message)
    {
        var context = t_deserialization ??= new ArrayDeserializationContext();
        context.Start(message.Buffer, message.Length);
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
            context.Start(null, 0);
            message.Return();
        }
    }

    private sealed class BuilderSerializationContext : SerializationContext
    {
        private FrameBuilder? _builder;

        public bool Completed { get; private set; }

        public void Start(FrameBuilder? builder)
        {
            _builder = builder;
            Completed = false;
        }

        private FrameBuilder Builder => _builder ?? throw new InvalidOperationException("The serialization context is used outside serialization.");

        public override void Complete(byte[] payload)
        {
            Builder.Write(payload);
            Completed = true;
        }

        public override IBufferWriter<byte> GetBufferWriter() => Builder;

        public override void SetPayloadLength(int payloadLength) => Builder.EnsureFree(payloadLength);

        public override void Complete() => Completed = true;
    }

    private sealed class ArrayDeserializationContext : DeserializationContext
    {
        private byte[]? _buffer;
        private int _length;

        public void Start(byte[]? buffer, int length)
        {
            _buffer = buffer;
            _length = length;
        }

        public override int PayloadLength => _length;

        public override byte[] PayloadAsNewBuffer() => _buffer.AsSpan(0, _length).ToArray();

        public override ReadOnlySequence<byte> PayloadAsReadOnlySequence() => new(_buffer ?? [], 0, _length);
    }
}
