using System.Globalization;
using IIC.Perf.Core;
using IIC.Perf.Harness;

namespace IIC.Perf.Cli;

/// <summary>Parses the command line into <see cref="BenchOptions"/>; errors say what was wrong and what is accepted.</summary>
internal static class OptionsParser
{
    public const string Usage = """
        usage: IIC.Perf [pingpong|throughput|idlegap|channels|fanin|connect|sizes|all|list|help] [options]
          (no sub-command = all of them; a little over two minutes on a quiet machine; --quick for a smoke run)

          pingpong            round-trip latency (p50, p90, p99, p99.9, max)
          throughput          one-way messages/s and bytes/s, plus single-threaded memcpy bandwidth (1 MiB)
          idlegap             round trips after a random 10 µs..1 ms pause: the cost of waking an idle receiver; then
                              0.5 s of silence: the CPU a waiting receiver burns
          channels            wake-ups of one of 1, 10, 100, 1000 open channels that one parked server thread waits on as
                              a group, the others idle, in interleaved rounds: wake-up latency and idle CPU against N
          fanin               1, 2, 4, 8, 16 sending processes into one receiving thread (a channel group): msgs/s
          connect             connect + first round trip + close, IICFast against TCP
          sizes               one-way bandwidth delivered (every byte read), 8 B to 64 MiB, iic and raw-shm beside memcpy
          list                the transports and whether they can run here

          --transports a,b    transports to run (default: all; see `list`)
          --sizes 32,4096     message sizes, 8 B to 64 MiB (4K, 64KiB, 1M accepted)
          --modes m,...       wait modes for transports that have a choice: spin,spinpark,park,adaptive (default: all);
                              a baseline always runs in its own mode (raw-shm spin, raw-futex park, sockets and pipes block)
          --api a,...         receive APIs: poll (in place), receive (copy out), poll-claim (ping-pong zero copy both ways),
                              send-and-receive (ping-pong request/reply in one call)
                              (default: all, where supported)
          --count N           round trips or messages per measurement (then --duration, if also given, caps the time)
          --duration S        seconds per measurement (default 0.5; idle gap 0.75; connect, fan-in and sizes 0.3)
          --warmup S          seconds of warm-up before each measurement (default 0.25; 0.1 on a reused server
                              child, IIC_PERF_REUSED_WARMUP_S; a given --warmup applies to every row)
          --isolation I       none (this machine's namespaces), namespaces (iic-ns and tcp-veth-ns: every process in its
                              own user, pid, network, mount and IPC namespaces, ping-pong and throughput) or all (default)
          --channels 1,10,... the channels test's numbers of open channels (default 1,10,100,1000)
          --channels-rounds N the channels test's rounds (default 12, 0.15 s per N each): each measures every N in turn between two
                              placement probes; a round whose probe moved is dropped for every N
          --channels-spread   the channels test sends each round trip on a pseudo-random one of its channels (rows
                              say api "spread"): what traffic spread over N channels costs, cold caches included
          --senders 1,2,...   the fan-in test's numbers of sending processes (default 1,2,4,8,16)
          --quick             smoke run: 0.15 s phases, fewer sizes and points, modes spin and adaptive (numbers mean little)
          --pin               pin the measuring thread of each side to its own CPU (client CPU 0, server CPU 1)
          --json FILE         results as JSON (default perf/out/results.json)
          --png FILE          latency percentile chart (default perf/out/latency.png)
          --timeout S         with --count only: the longest a measurement may run (default 120)
        """;

    /// <summary>Parses <paramref name="args"/>.</summary>
    /// <exception cref="ArgumentException">An unknown or malformed argument; the message says which and what is accepted.</exception>
    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var options = new BenchOptions();
        var queue = new Queue<string>(args);
        if (queue.TryPeek(out var first) && !first.StartsWith('-'))
        {
            queue.Dequeue();
            options = first.ToUpperInvariant() switch
            {
                "ALL" => options,
                "PINGPONG" => options with { Tests = [BenchTest.PingPong], Memcpy = false },
                "THROUGHPUT" => options with { Tests = [BenchTest.Throughput] },
                "IDLEGAP" => options with { Tests = [BenchTest.IdleGap], Memcpy = false },
                "CHANNELS" => options with { Tests = [BenchTest.Channels] },
                "FANIN" => options with { Tests = [BenchTest.FanIn] },
                "CONNECT" => options with { Tests = [BenchTest.Connect] },
                "SIZES" => options with { Tests = [BenchTest.Sizes] },
                "LIST" => options with { ListTransports = true },
                "HELP" => options with { ShowHelp = true },
                _ => throw new ArgumentException($"Unknown sub-command '{first}'. Use pingpong, throughput, idlegap, channels, fanin, connect, sizes, all, list or help."),
            };
        }
        while (queue.Count > 0)
        {
            var argument = queue.Dequeue();
            var name = argument;
            string? inlineValue = null;
            var equals = argument.IndexOf('=', StringComparison.Ordinal);
            if (argument.StartsWith("--", StringComparison.Ordinal) && equals > 0)
            {
                name = argument[..equals];
                inlineValue = argument[(equals + 1)..];
            }
            string Value() => inlineValue ?? (queue.Count > 0 ? queue.Dequeue() : throw new ArgumentException($"{name} needs a value."));
            options = name switch
            {
                "--transports" => options with { Transports = List(Value()) },
                "--sizes" => options with { Sizes = [.. List(Value()).Select(ParseSize)], SizesGiven = true },
                "--modes" => options with { Modes = [.. List(Value()).Select(ParseMode)] },
                "--api" or "--apis" => options with { Apis = [.. List(Value()).Select(ParseApi)] },
                "--count" => options with { Count = ParsePositive(name, Value()) },
                "--duration" => options with { DurationS = ParseSeconds(name, Value()) },
                "--warmup" => options with { WarmupS = ParseSeconds(name, Value(), allowZero: true), WarmupGiven = true },
                "--timeout" => options with { TimeoutS = ParseSeconds(name, Value()) },
                "--pin" => options with { Pin = true },
                "--isolation" => options with { Isolation = Isolation.IsolationKind.Parse(Value()) },
                "--quick" => Quick(options),
                "--channels-spread" => options with { ChannelsSpread = true },
                "--channels-rounds" => options with { ChannelRounds = (int)Math.Min(ParsePositive(name, Value()), 1000) },
                "--channels" => options with { ChannelCounts = [.. List(Value()).Select(v => (int)ParsePositive(name, v))] },
                "--senders" => options with { FanInSenders = [.. List(Value()).Select(v => (int)ParsePositive(name, v))] },
                "--json" => options with { JsonPath = Value() },
                "--png" => options with { PngPath = Value() },
                "-h" or "--help" => options with { ShowHelp = true },
                _ => throw new ArgumentException($"Unknown option '{argument}'."),
            };
        }
        return options;
    }

    /// <summary>A smoke run: every row, short phases, fewer points (options after --quick still override).</summary>
    private static BenchOptions Quick(BenchOptions options) => options with
    {
        Quick = true,
        DurationS = 0.15,
        WarmupS = 0.05,
        IdleS = 0.2,
        ScaleDurationS = 0.15,
        ScaleIdleS = 0.2,
        ScaleSizes = [8, 4 << 10, 1 << 20, 16 << 20],
        ChannelCounts = [1, 100],
        ChannelRounds = 3,
        ChannelBlockS = 0.1,
        FanInSenders = [1, 4],
        Modes = [WaitModes.Spin, WaitModes.Adaptive],
    };

    private static List<string> List(string value) => [.. value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    private static int ParseSize(string text)
    {
        if (!SizeText.TryParse(text, out var bytes) || bytes < LinkOptions.MinMessageSize || bytes > LinkOptions.MaxMessageSize)
        {
            throw new ArgumentException($"Message size '{text}' is not between 8 B and 64 MiB (write 32, 4096, 4K, 1M...).");
        }
        return bytes;
    }

    private static string ParseMode(string text)
    {
        var mode = text.ToLowerInvariant();
        return WaitModes.Selectable.Contains(mode)
            ? mode
            : throw new ArgumentException($"Unknown mode '{text}'. Use spin, spinpark, park or adaptive.");
    }

    private static ReceiveApi ParseApi(string text)
        => ReceiveApiNames.TryParse(text, out var api) ? api : throw new ArgumentException($"Unknown receive API '{text}'. Use poll, receive, poll-claim or send-and-receive.");

    private static long ParsePositive(string name, string text)
        => long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0
            ? value
            : throw new ArgumentException($"{name} needs a positive whole number; got '{text}'.");

    private static double ParseSeconds(string name, string text, bool allowZero = false)
    {
        var trimmed = text.EndsWith('s') ? text[..^1] : text;
        return double.TryParse(trimmed, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && (value > 0 || (allowZero && value == 0)) && value < 3600
            ? value
            : throw new ArgumentException($"{name} needs seconds ({(allowZero ? "0" : "more than 0")} to 3600); got '{text}'.");
    }
}
