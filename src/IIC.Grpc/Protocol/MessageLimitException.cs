namespace IIC.Grpc.Protocol;

/// <summary>A message announced more bytes than this side accepts (becomes <c>ResourceExhausted</c>).</summary>
internal sealed class MessageLimitException(long length, int limit)
    : Exception($"Received message exceeds the maximum configured message size ({length} > {limit} bytes): raise MaxReceiveMessageSize on the receiving side.")
{
}
