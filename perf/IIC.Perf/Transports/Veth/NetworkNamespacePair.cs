using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace IIC.Perf.Transports.Veth;

/// <summary>
/// Two network namespaces joined by a veth pair, made for one run and removed at its end (also on Ctrl+C and on
/// failure, through the cleanup registry). The names carry this process's id, so parallel runs do not collide and a
/// later run can remove what a killed run left behind. The addresses exist only inside the two namespaces: no
/// traffic of this benchmark can leave them.
/// </summary>
internal sealed class NetworkNamespacePair : IDisposable
{
    private const string Prefix = "iicperf-";
    private readonly string _ip;
    private int _disposed;

    private NetworkNamespacePair(string ip, int id)
    {
        _ip = ip;
        ClientNamespace = string.Create(CultureInfo.InvariantCulture, $"{Prefix}{id}-c");
        ServerNamespace = string.Create(CultureInfo.InvariantCulture, $"{Prefix}{id}-s");
    }

    public string ClientNamespace { get; }

    public string ServerNamespace { get; }

    /// <summary>The client's address (a /30 that exists only inside these namespaces).</summary>
    public static IPAddress ClientAddress { get; } = IPAddress.Parse("10.99.0.1");

    /// <summary>The server's address.</summary>
    public static IPAddress ServerAddress { get; } = IPAddress.Parse("10.99.0.2");

    /// <summary>Creates the namespaces, the veth pair and the addresses; removes what it made if a step fails.</summary>
    /// <exception cref="InvalidOperationException">A step failed; the message has ip's own explanation.</exception>
    public static NetworkNamespacePair Create(string ip)
    {
        RemoveStale(ip);
        var pair = new NetworkNamespacePair(ip, Environment.ProcessId);
        try
        {
            var id = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
            string clientLink = $"iicp{id}c", serverLink = $"iicp{id}s"; // interface names are limited to 15 bytes
            IpCommand.Run(ip, "netns", "add", pair.ClientNamespace);
            IpCommand.Run(ip, "netns", "add", pair.ServerNamespace);
            IpCommand.Run(ip, "link", "add", clientLink, "netns", pair.ClientNamespace, "type", "veth", "peer", "name", serverLink, "netns", pair.ServerNamespace);
            IpCommand.Run(ip, "-n", pair.ClientNamespace, "addr", "add", $"{ClientAddress}/30", "dev", clientLink);
            IpCommand.Run(ip, "-n", pair.ServerNamespace, "addr", "add", $"{ServerAddress}/30", "dev", serverLink);
            foreach (var (ns, link) in new[] { (pair.ClientNamespace, clientLink), (pair.ServerNamespace, serverLink) })
            {
                IpCommand.Run(ip, "-n", ns, "link", "set", "lo", "up");
                IpCommand.Run(ip, "-n", ns, "link", "set", link, "up");
            }
            return pair;
        }
        catch
        {
            pair.Dispose();
            throw;
        }
    }

    /// <summary>Deleting a namespace deletes its end of the veth pair, and with it the other end.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            IpCommand.TryRun(_ip, "netns", "del", ClientNamespace);
            IpCommand.TryRun(_ip, "netns", "del", ServerNamespace);
        }
    }

    /// <summary>Removes namespaces of earlier runs whose process no longer exists (a run killed with SIGKILL).</summary>
    private static void RemoveStale(string ip)
    {
        var (exitCode, output) = IpCommand.TryRun(ip, "netns", "list");
        if (exitCode != 0)
        {
            return;
        }
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var name = line.Split(' ')[0];
            if (!name.StartsWith(Prefix, StringComparison.Ordinal))
            {
                continue;
            }
            var idText = name[Prefix.Length..].Split('-')[0];
            if (int.TryParse(idText, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && !IsRunning(pid))
            {
                IpCommand.TryRun(ip, "netns", "del", name);
            }
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
