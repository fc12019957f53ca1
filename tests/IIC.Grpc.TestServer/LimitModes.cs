using System.Collections.Concurrent;
using Grpc.Core;

namespace IIC.Grpc.Testing;

/// <summary>
/// Unary modes for the per-connection call limit (tests/IIC.Grpc.Tests/CallLimitTests.cs): handlers that wait at a gate
/// while the server counts how many run at once under a key, so a test can see the most that ever ran together.
/// </summary>
public static class LimitModes
{
    private static readonly ConcurrentDictionary<string, Gate> s_gates = new();

    private sealed class Gate
    {
        public readonly TaskCompletionSource Open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public int Running;
        public int Peak;
        public int Started;
    }

    /// <summary>"gate": counts this handler as running under the key, waits until the key's gate opens (or the call is cancelled), then returns.</summary>
    public static async Task<Reply> PassAsync(string key, string text, ServerCallContext context)
    {
        var gate = s_gates.GetOrAdd(key, static _ => new Gate());
        Interlocked.Increment(ref gate.Started);
        var running = Interlocked.Increment(ref gate.Running);
        int peak;
        while ((peak = Volatile.Read(ref gate.Peak)) < running && Interlocked.CompareExchange(ref gate.Peak, running, peak) != peak)
        {
        }
        try
        {
            await gate.Open.Task.WaitAsync(context.CancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref gate.Running);
        }
        return new Reply { Text = text };
    }

    /// <summary>"open-gate": lets every handler waiting under the key (and every later one) through.</summary>
    public static Reply OpenGate(string key)
    {
        s_gates.GetOrAdd(key, static _ => new Gate()).Open.TrySetResult();
        return new Reply();
    }

    /// <summary>"peak?": Index = the most handlers that ran at once under the key, Scope = how many run now, Text = how many started.</summary>
    public static Reply Peak(string key)
    {
        var gate = s_gates.GetOrAdd(key, static _ => new Gate());
        return new Reply
        {
            Index = Volatile.Read(ref gate.Peak),
            Scope = Volatile.Read(ref gate.Running).ToString(System.Globalization.CultureInfo.InvariantCulture),
            Text = Volatile.Read(ref gate.Started).ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
    }

    /// <summary>The "max-calls=N" argument of the test server (IicGrpcServerOptions.MaxConcurrentCallsPerConnection), if given.</summary>
    public static int? MaxCallsArgument(string[] args)
    {
        foreach (var arg in args)
        {
            if (arg.StartsWith("max-calls=", StringComparison.Ordinal))
            {
                return int.Parse(arg["max-calls=".Length..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        return null;
    }
}
