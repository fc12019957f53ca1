namespace IIC.Grpc.Protocol;

/// <summary>
/// The bounds and the default of <c>MaxMetadataSize</c>, the most bytes of one header block a side sends or accepts
/// (docs/grpc-call-protocol.md 2.9): one rule for the client's and the server's options.
/// </summary>
internal static class MetadataSizeLimit
{
    /// <summary>The default: 4 MiB (as the default MaxReceiveMessageSize).</summary>
    public const int Default = 4 * 1024 * 1024;

    /// <summary>The least limit a side may set (or announce, 2.8): 1 KiB.</summary>
    public const int Minimum = 1024;

    /// <summary>Returns <paramref name="value"/> when it is from 1024 bytes to 1 GiB.</summary>
    /// <exception cref="ArgumentOutOfRangeException">It is not: the message gives the range.</exception>
    public static int Validate(int value) => value is >= Minimum and <= 1 << 30
        ? value
        : throw new ArgumentOutOfRangeException(nameof(value), value, "MaxMetadataSize must be from 1024 bytes to 1 GiB (the most bytes of one header block: a call's headers or trailers).");
}
