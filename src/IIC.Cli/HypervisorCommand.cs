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
          --socket-dir <dir>                 where to put <name>.sock (created 0700); default
                                             $XDG_RUNTIME_DIR/iic, else /tmp/iic-<uid>
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
                    try
                    {
                        HypervisorPaths.ValidateHypervisorName(parsedName, "name");
                    }
                    catch (ArgumentException e)
                    {
                        throw new UsageException("--name: " + e.Message[..(e.Message.IndexOf(" (Parameter", StringComparison.Ordinal) is var at and >= 0 ? at : e.Message.Length)]);
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
            SocketDirectory = socketDirectory,
            Log = LogLine,
        };
        return true;
    }

    private static string ValidName(string value, string what)
    {
        try
        {
            ControlProtocol.ValidateName(value, "name");
            return value;
        }
        catch (ArgumentException)
        {
            throw new UsageException($"{what} '{value}' is not a valid name: use 1 to {ControlProtocol.MaxNameLength} ASCII letters, digits, '.', '_', '-' or '/'.");
        }
    }

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
