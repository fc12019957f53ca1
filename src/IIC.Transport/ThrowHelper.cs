using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace IIC.Transport;

/// <summary>
/// The throw paths of methods that run per message or per call, out of line: a method whose rare path only calls a
/// <see cref="DoesNotReturnAttribute"/> helper stays small enough to inline, and the code that builds the exception
/// and its message stays out of the hot loop (the runtime's ThrowHelper pattern). Validation that runs once, when
/// a window or channel is set up, throws inline where it is read. (docs/architecture.md, "Layers".)
/// </summary>
internal static class ThrowHelper
{
    /// <summary>A receive buffer of <paramref name="available"/> bytes is too small for a message of <paramref name="needed"/>.</summary>
    [DoesNotReturn]
    public static void MessageTooLarge(long needed, int available) => throw new MessageTooLargeException(needed, available);

    /// <summary>A <see cref="ChannelClaim"/> (or a copy of it) was used after it was committed or aborted.</summary>
    [DoesNotReturn]
    public static void ClaimFinished() =>
        throw new InvalidOperationException("This claim was already committed or aborted (or never made, or a copy of it was): claim again with TryClaim.");

    /// <summary>TrySend was given more than one record.</summary>
    [DoesNotReturn]
    public static void TrySendTooLarge(string parameterName, int length, int maxRecordPayload) =>
        throw new ArgumentOutOfRangeException(parameterName, length, string.Create(CultureInfo.InvariantCulture,
            $"TrySend sends only messages of up to {maxRecordPayload} bytes (one record); use Send, which waits while it fragments larger ones."));

    /// <summary>A message longer than any message can be.</summary>
    [DoesNotReturn]
    public static void MessageTooLong(string parameterName, long length, long maxMessageLength) =>
        throw new ArgumentOutOfRangeException(parameterName, length, string.Create(CultureInfo.InvariantCulture,
            $"A message is at most {maxMessageLength} bytes; split it, or stream it with AsStream()."));
}
