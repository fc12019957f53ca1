using IIC.Grpc.Testing;

namespace IIC.Grpc.Tests;

/// <summary>
/// Asks the TestServer process what its handlers observed under a key (its "written?" and "cancelled?" modes), from
/// another client or call, so a test can wait for a handler's state in the other process.
/// </summary>
internal static class ServerObservations
{
    /// <summary>Which write the handler under <paramref name="key"/> starts next (-1: none yet; -2: its response headers).</summary>
    public static async Task<int> WrittenAsync(Tester.TesterClient observer, string key, TimeSpan deadline)
        => (await observer.UnaryAsync(new Request { Mode = "written?", Key = key }, deadline: DateTime.UtcNow + deadline)).Index;

    /// <summary>
    /// Which write of the "progress" handler under <paramref name="key"/> last waited, seen from the handler as a write task
    /// it got back incomplete (-1: none yet; -2: its response headers). Unlike <see cref="WrittenAsync"/> (set before the
    /// write starts), a Cancel sent after this is seen finds the write waiting with the call's token on its wait.
    /// </summary>
    public static async Task<int> WaitingAsync(Tester.TesterClient observer, string key, TimeSpan deadline)
        => (await observer.UnaryAsync(new Request { Mode = "waiting?", Key = key }, deadline: DateTime.UtcNow + deadline)).Index;

    /// <summary>What the handler under <paramref name="key"/> noted of its write's end: "cancelled" (OperationCanceledException in a write in progress), "refused" (a write started after the call ended), or "" (neither yet).</summary>
    public static async Task<string> WriteOutcomeAsync(Tester.TesterClient observer, string key, TimeSpan deadline)
        => (await observer.UnaryAsync(new Request { Mode = "cancelled?", Key = key }, deadline: DateTime.UtcNow + deadline)).Text;

    /// <summary>Whether the handler's write in progress under <paramref name="key"/> failed with OperationCanceledException (not a later write refused: "refused").</summary>
    public static async Task<bool> WriteCancelledAsync(Tester.TesterClient observer, string key, TimeSpan deadline)
        => (await observer.UnaryAsync(new Request { Mode = "cancelled?", Key = key }, deadline: DateTime.UtcNow + deadline)).Text == "cancelled";
}
