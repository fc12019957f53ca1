using System.Globalization;
using System.Runtime.InteropServices;
using IIC.Hardware;

namespace IIC.Cli;

/// <summary>
/// <c>iic hypervisor</c>: runs a standalone hypervisor until SIGINT (Ctrl+C) or SIGTERM, logging attaches, grants,
/// refusals and deaths to stdout with timestamps, then shuts down cleanly (the socket file is removed).
/// </summary>
internal static class HypervisorCommand
{
    private const string Usage = """
        usage: iic hypervisor --name <name> [options]

        Runs a standalone IICFast hypervisor: partitions attach to it by <name>, offer services and connect to
        them; it grants one sealed shared-memory window per connection. Runs until Ctrl+C or SIGTERM, then
        removes its socket and exits 0. Log lines (attaches, grants, refusals, deaths) go to stdout.

        options:
          --name <name>                      the hypervisor's name (required; letters, digits, '.', '_', '-')
          --allow-uid <uid>                  admit partitions of this user id (repeatable); default: only
                                             the uid this hypervisor runs as
          --service-allow <service>=<p>[,<p>...]
                                             only the named partitions may offer or connect to <service>
                                             (repeatable); services not listed are open to every partition
          --service-allow-uid <service>=<uid>[,<uid>...]
                                             only these uids may offer or connect to <service>
                                             (SO_PEERCRED, repeatable)
          --service-allow-gid <service>=<gid>[,<gid>...]
                                             only these gids may offer or connect to <service>
          --name-uid <name>=<uid>            only <uid> may attach as partition <name> (repeatable)
          --socket-dir <dir>                 where to put <name>.sock (created 0700); default
                                             $XDG_RUNTIME_DIR/iic, else /tmp/iic-<uid>
          --dumpable                         leave the process dumpable (default: non-dumpable, so
                                             same-uid processes cannot open its windows via /proc)

        limits (a request past one gets an Error reply; docs/guarantees.md "Resource limits"):
          --max-partitions <n>               partitions attached at once (1024)
          --max-grants-per-partition <n>     connections one partition holds (4096)
          --max-grants-per-uid <n>           connections the partitions of one uid hold (16384)
          --max-grants <n>                   connections in all (65536)
          --max-pending-per-partition <n>    connects one partition has waiting for a service (256)
          --max-pending-per-uid <n>          connects one uid has waiting (1024)
          --max-pending <n>                  connects waiting in all (8192)
          --max-window-bytes-per-partition <size>
                                             window bytes a connecting partition holds (1G)
          --max-window-bytes-per-uid <size>  window bytes one uid holds (4G)
          --max-window-bytes <size>          window bytes in all (16G)
          --max-ring-capacity <size>         largest ring per direction (64M)
          --max-queued-grants <n>            grants queued for a listener that has not read them (its
                                             accept queue); further connects wait for it to read (64)
          --accept-stall-timeout <seconds>   a listener with a full accept queue that reads nothing
                                             for this long is stopped or hung: connects waiting for
                                             it fail, naming it (5)
          --stall-timeout <seconds>          a partition that reads nothing for this long while
                                             messages wait for it is detached (10)
          --attach-timeout <seconds>         a control connection must attach within this (5)
          -h, --help                         show this help

        example:
          iic hypervisor --name demo --allow-uid 1000 --service-allow orders=server,auditor
        """;

    public static int Run(string[] args)
    {
        HypervisorOptions options;
        string name;
        try
        {
            if (!TryParse(args, out name, out options))
            {
                Console.WriteLine(Usage);
                return 0;
            }
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"iic hypervisor: {e.Message}");
            Console.Error.WriteLine("Run 'iic hypervisor --help' for the options.");
            return Program.UsageError;
        }
        return Serve(name, options);
    }

    /// <summary>Parses the arguments; false when help was asked for.</summary>
    /// <exception cref="UsageException">The arguments are wrong.</exception>
    internal static bool TryParse(string[] args, out string name, out HypervisorOptions options)
    {
        string? parsedName = null;
        string? socketDirectory = null;
        var uids = new HashSet<uint>();
        var services = new Dictionary<string, IReadOnlySet<string>>(StringComparer.Ordinal);
        var serviceUids = new Dictionary<string, HashSet<uint>>(StringComparer.Ordinal);
        var serviceGids = new Dictionary<string, HashSet<uint>>(StringComparer.Ordinal);
        var nameOwners = new Dictionary<string, uint>(StringComparer.Ordinal);
        var limits = new Dictionary<string, long>(StringComparer.Ordinal);
        var dumpable = false;
        var reader = new ArgumentReader(args);
        while (reader.Next(out var option))
        {
            switch (option)
            {
                case "-h" or "--help":
                    reader.NoValue(option);
                    name = "";
                    options = new HypervisorOptions();
                    return false;
                case "--name":
                    if (parsedName is not null)
                    {
                        throw new UsageException("--name was given twice.");
                    }
                    parsedName = reader.Value(option);
                    if (!NameRules.IsHypervisorName(parsedName))
                    {
                        throw new UsageException($"--name: '{parsedName}' is not a valid name for a hypervisor: {NameRules.HypervisorNameRule}.");
                    }
                    break;
                case "--allow-uid":
                {
                    var text = reader.Value(option);
                    if (!uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var uid))
                    {
                        throw new UsageException($"--allow-uid '{text}' is not a user id (a non-negative integer; see `id -u <user>`).");
                    }
                    uids.Add(uid);
                    break;
                }
                case "--service-allow":
                {
                    var text = reader.Value(option);
                    var equals = text.IndexOf('=', StringComparison.Ordinal);
                    if (equals <= 0 || equals == text.Length - 1)
                    {
                        throw new UsageException($"--service-allow '{text}' must be <service>=<partition>[,<partition>...].");
                    }
                    var service = ValidName(text[..equals], "--service-allow service");
                    var partitions = text[(equals + 1)..].Split(',', StringSplitOptions.TrimEntries);
                    var set = services.TryGetValue(service, out var existing) ? new HashSet<string>(existing, StringComparer.Ordinal) : new HashSet<string>(StringComparer.Ordinal);
                    foreach (var partition in partitions)
                    {
                        set.Add(ValidName(partition, $"--service-allow partition for '{service}'"));
                    }
                    services[service] = set;
                    break;
                }
                case "--service-allow-uid" or "--service-allow-gid":
                {
                    var (service, ids) = ServiceIds(option, reader.Value(option));
                    var table = option == "--service-allow-uid" ? serviceUids : serviceGids;
                    table[service] = table.TryGetValue(service, out var existing) ? [.. existing, .. ids] : ids;
                    break;
                }
                case "--name-uid":
                {
                    var text = reader.Value(option);
                    var equals = text.IndexOf('=', StringComparison.Ordinal);
                    if (equals <= 0 || !uint.TryParse(text[(equals + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var owner))
                    {
                        throw new UsageException($"--name-uid '{text}' must be <partition name>=<uid>.");
                    }
                    nameOwners[ValidName(text[..equals], "--name-uid name")] = owner;
                    break;
                }
                case "--dumpable":
                    reader.NoValue(option);
                    dumpable = true;
                    break;
                case var limit when s_limits.ContainsKey(limit):
                    limits[limit] = ParseLimit(limit, reader.Value(option));
                    break;
                case "--socket-dir":
                    if (socketDirectory is not null)
                    {
                        throw new UsageException("--socket-dir was given twice.");
                    }
                    socketDirectory = reader.Value(option);
                    if (socketDirectory.Length == 0)
                    {
                        throw new UsageException("--socket-dir cannot be empty.");
                    }
                    socketDirectory = Path.GetFullPath(socketDirectory);
                    break;
                default:
                    throw new UsageException(option.StartsWith('-') ? $"unknown option '{option}'." : $"unexpected argument '{option}'.");
            }
        }
        name = parsedName ?? throw new UsageException("--name <name> is required.");
        options = new HypervisorOptions
        {
            AllowedUids = uids,
            ServicePartitions = services,
            ServiceUids = serviceUids.ToDictionary(p => p.Key, p => (IReadOnlySet<uint>)p.Value, StringComparer.Ordinal),
            ServiceGids = serviceGids.ToDictionary(p => p.Key, p => (IReadOnlySet<uint>)p.Value, StringComparer.Ordinal),
            NameOwners = nameOwners,
            SocketDirectory = socketDirectory,
            NonDumpable = !dumpable,
            Log = LogLine,
        };
        foreach (var (limit, value) in limits)
        {
            options = s_limits[limit](options, value);
        }
        return true;
    }

    /// <summary>The limit options: each sets one <see cref="HypervisorOptions"/> property from a parsed number.</summary>
    private static readonly Dictionary<string, Func<HypervisorOptions, long, HypervisorOptions>> s_limits = new(StringComparer.Ordinal)
    {
        ["--max-partitions"] = (o, v) => o with { MaxPartitions = checked((int)v) },
        ["--max-grants-per-partition"] = (o, v) => o with { MaxGrantsPerPartition = checked((int)v) },
        ["--max-grants-per-uid"] = (o, v) => o with { MaxGrantsPerUid = checked((int)v) },
        ["--max-grants"] = (o, v) => o with { MaxGrants = checked((int)v) },
        ["--max-pending-per-partition"] = (o, v) => o with { MaxPendingConnectsPerPartition = checked((int)v) },
        ["--max-pending-per-uid"] = (o, v) => o with { MaxPendingConnectsPerUid = checked((int)v) },
        ["--max-pending"] = (o, v) => o with { MaxPendingConnects = checked((int)v) },
        ["--max-window-bytes-per-partition"] = (o, v) => o with { MaxWindowBytesPerPartition = v },
        ["--max-window-bytes-per-uid"] = (o, v) => o with { MaxWindowBytesPerUid = v },
        ["--max-window-bytes"] = (o, v) => o with { MaxWindowBytes = v },
        ["--max-ring-capacity"] = (o, v) => o with { MaxRingCapacity = checked((int)v) },
        ["--max-queued-grants"] = (o, v) => o with { MaxQueuedGrantsPerPartition = checked((int)v) },
        ["--accept-stall-timeout"] = (o, v) => o with { AcceptStallTimeout = TimeSpan.FromSeconds(v) },
        ["--stall-timeout"] = (o, v) => o with { OutboundStallTimeout = TimeSpan.FromSeconds(v) },
        ["--attach-timeout"] = (o, v) => o with { AttachTimeout = TimeSpan.FromSeconds(v) },
    };

    /// <summary>A positive number, with an optional K, M or G (binary) suffix for sizes.</summary>
    private static long ParseLimit(string option, string text)
    {
        var multiplier = 1L;
        var digits = text;
        if (text.Length > 1 && char.ToUpperInvariant(text[^1]) is 'K' or 'M' or 'G' && (option.Contains("bytes", StringComparison.Ordinal) || option.Contains("capacity", StringComparison.Ordinal)))
        {
            multiplier = char.ToUpperInvariant(text[^1]) switch { 'K' => 1L << 10, 'M' => 1L << 20, _ => 1L << 30 };
            digits = text[..^1];
        }
        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value <= 0 || value > int.MaxValue * (multiplier == 1 ? 1L : 64L))
        {
            throw new UsageException($"{option} '{text}' is not a positive number{(option.Contains("bytes", StringComparison.Ordinal) || option.Contains("capacity", StringComparison.Ordinal) ? " of bytes (K, M and G suffixes allowed)" : "")}.");
        }
        return value * multiplier;
    }

    private static (string Service, HashSet<uint> Ids) ServiceIds(string option, string text)
    {
        var equals = text.IndexOf('=', StringComparison.Ordinal);
        if (equals <= 0 || equals == text.Length - 1)
        {
            throw new UsageException($"{option} '{text}' must be <service>=<id>[,<id>...].");
        }
        var ids = new HashSet<uint>();
        foreach (var part in text[(equals + 1)..].Split(',', StringSplitOptions.TrimEntries))
        {
            if (!uint.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            {
                throw new UsageException($"{option} '{text}': '{part}' is not a numeric id.");
            }
            ids.Add(id);
        }
        return (ValidName(text[..equals], option + " service"), ids);
    }

    private static string ValidName(string value, string what) =>
        NameRules.IsName(value) ? value : throw new UsageException($"{what} '{value}' is not a valid name: {NameRules.NameRule}.");

    private static int Serve(string name, HypervisorOptions options)
    {
        using var stop = new ManualResetEventSlim();
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true; // we shut down ourselves, cleanly
            LogLine($"received {context.Signal}; shutting down");
            stop.Set();
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        Hypervisor hypervisor;
        try
        {
            hypervisor = Hypervisor.Start(name, options);
        }
        catch (Exception e) when (e is InvalidOperationException or UnauthorizedAccessException or IOException or ArgumentException or PlatformNotSupportedException)
        {
            Console.Error.WriteLine($"iic hypervisor: cannot start '{name}': {e.Message}");
            return Program.RuntimeError;
        }
        using (hypervisor)
        {
            var policy = options.AllowedUids.Count == 0
                ? $"uid {IIC.Native.Credentials.EffectiveUserId} only"
                : "uids " + string.Join(",", options.AllowedUids.Order());
            LogLine($"policy: {policy}; {options.ServicePartitions.Count} service allow-list(s){string.Concat(options.ServicePartitions.Select(p => $"; '{p.Key}' for {string.Join(",", p.Value.Order(StringComparer.Ordinal))}"))}");
            LogLine("press Ctrl+C or send SIGTERM to stop");
            stop.Wait();
            LogLine($"stopping: {hypervisor.PartitionCount} partition(s) attached, {hypervisor.GrantCount} grant(s) live (existing channels keep working)");
        }
        LogLine("stopped; socket removed");
        return 0;
    }

    private static readonly Lock s_logLock = new();

    private static void LogLine(string line)
    {
        lock (s_logLock)
        {
            Console.Out.WriteLine($"{DateTimeOffset.Now.ToString("yyyy-MM-ddTHH:mm:ss.fffzzz", CultureInfo.InvariantCulture)} {line}");
            Console.Out.Flush();
        }
    }
}
