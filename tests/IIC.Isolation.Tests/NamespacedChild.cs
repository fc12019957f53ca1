using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using IIC.Tests;

namespace IIC.Isolation.Tests;

/// <summary>
/// A real <c>dotnet IIC.Isolation.Host.dll scenario args</c> started by <c>unshare</c> in new user, pid, network,
/// mount and IPC namespaces (<c>--fork --kill-child</c>: it is pid 1 of its pid namespace and dies with unshare).
/// With <see cref="UserMapping.Root"/> it also gets a root filesystem view of its own: fresh tmpfs over /tmp and
/// /dev/shm, and the hypervisor's socket directory bind-mounted back at the same path, so that directory is the
/// only thing it shares with the rest of the machine (the binaries it runs are read from the host's tree).
/// Stdout lines are read with bounded waits; failures carry the child's stderr.
/// </summary>
public sealed class NamespacedChild : IDisposable
{
    // $1 is the socket directory, $2 the source tree the child runs from. The bind mounts are staged on the new
    // /dev/shm (already private) because the new /tmp hides their paths; mount --move then puts them back where the
    // host has them. The tree is put back only when it lies under /tmp (a checkout or CI clone there): the child
    // must still find its binaries and its working directory, and they are the host's tree in any case.
    private const string PrivateRootScript = """
        set -e
        mount -t tmpfs -o mode=1777 iic-private-shm /dev/shm
        mkdir /dev/shm/.socket-dir
        mount --bind "$1" /dev/shm/.socket-dir
        case "$2" in /tmp/*) mkdir /dev/shm/.tree; mount --bind "$2" /dev/shm/.tree;; esac
        mount -t tmpfs -o mode=1777 iic-private-tmp /tmp
        mkdir -p "$1"
        mount --move /dev/shm/.socket-dir "$1"
        rmdir /dev/shm/.socket-dir
        case "$2" in /tmp/*) mkdir -p "$2"; mount --move /dev/shm/.tree "$2"; rmdir /dev/shm/.tree;; esac
        shift 2
        exec "$@"
        """;

    /// <summary>
    /// The source tree the child's binaries and working directory live in: the checkout (the folder holding
    /// IICFast.sln above this assembly), else this assembly's folder.
    /// </summary>
    private static readonly string s_sourceTree = FindSourceTree();

    private static string FindSourceTree()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "IICFast.sln")))
            {
                return directory.FullName;
            }
        }
        return Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory);
    }

    private readonly BlockingCollection<string> _lines = [];
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly string _scenario;

    private NamespacedChild(string scenario, Process process)
    {
        _scenario = scenario;
        Unshare = process;
    }

    /// <summary>The unshare process (its child, pid 1 inside, is <see cref="HostProcessId"/>).</summary>
    public Process Unshare { get; }

    /// <summary>Everything the child wrote to stderr so far.</summary>
    public string StandardError
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>
    /// The host's pid of the scenario process (pid 1 in its own pid namespace): the child unshare forked.
    /// Waits (bounded) for the fork.
    /// </summary>
    public int HostProcessId
    {
        get
        {
            var path = string.Create(CultureInfo.InvariantCulture, $"/proc/{Unshare.Id}/task/{Unshare.Id}/children");
            var pid = 0;
            WaitFor.Condition(() =>
            {
                try
                {
                    var text = File.ReadAllText(path).Trim();
                    return text.Length > 0 && int.TryParse(text.Split(' ')[0], CultureInfo.InvariantCulture, out pid);
                }
                catch (IOException)
                {
                    return false;
                }
            }, $"unshare (pid {Unshare.Id}) to fork the scenario process", diagnostics: () => StandardError);
            return pid;
        }
    }

    /// <summary>Starts <paramref name="scenario"/> in fresh namespaces; <paramref name="socketDirectory"/> is the one directory it shares.</summary>
    public static NamespacedChild Start(UserMapping mapping, string socketDirectory, string scenario, params string[] args)
    {
        var host = Path.Combine(AppContext.BaseDirectory, "IIC.Isolation.Host.dll");
        Assert.True(File.Exists(host), $"The isolation host is missing: {host}; the test project must reference tests/IIC.Isolation.Host.");
        var info = new ProcessStartInfo("unshare")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        info.ArgumentList.Add(mapping switch
        {
            UserMapping.Root => "--map-root-user",
            UserMapping.ClaimsOtherUid => $"--map-user={Namespaces.ClaimedUid}",
            _ => "--user",
        });
        if (mapping == UserMapping.ClaimsOtherUid)
        {
            info.ArgumentList.Add($"--map-group={Namespaces.ClaimedUid}");
        }
        foreach (var arg in new[] { "--pid", "--net", "--mount", "--ipc", "--fork", "--kill-child", "--" })
        {
            info.ArgumentList.Add(arg);
        }
        if (mapping == UserMapping.Root)
        {
            // Only a mapped root keeps its capabilities across exec, so only it can mount the private tree.
            foreach (var arg in new[] { "/bin/sh", "-c", PrivateRootScript, "sh", socketDirectory, s_sourceTree })
            {
                info.ArgumentList.Add(arg);
            }
        }
        info.ArgumentList.Add(Environment.ProcessPath is { } dotnet && Path.GetFileNameWithoutExtension(dotnet) == "dotnet" ? dotnet : "dotnet");
        info.ArgumentList.Add(host);
        info.ArgumentList.Add(scenario);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        var process = new Process { StartInfo = info };
        var child = new NamespacedChild(scenario, process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                child._lines.CompleteAdding();
                return;
            }
            lock (child._stdout)
            {
                child._stdout.AppendLine(e.Data);
            }
            child._lines.Add(e.Data);
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (child._stderr)
                {
                    child._stderr.AppendLine(e.Data);
                }
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>The next stdout line, waiting at most <paramref name="timeout"/> (default 30 s: dotnet starts slowly on a loaded box).</summary>
    public string ReadLine(TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        if (_lines.TryTake(out var line, limit))
        {
            return line;
        }
        Assert.Fail($"{Describe()} wrote no line within {limit.TotalSeconds} s ({(Unshare.HasExited ? $"exited {Unshare.ExitCode}" : "still running")}).{Diagnostics()}");
        return "";
    }

    /// <summary>Writes a line to the child's stdin.</summary>
    public void WriteLine(string line)
    {
        Unshare.StandardInput.WriteLine(line);
        Unshare.StandardInput.Flush();
    }

    /// <summary>Waits (bounded) for the child to exit with <paramref name="code"/>.</summary>
    public void AssertExit(int code = 0, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        if (!Unshare.WaitForExit(limit))
        {
            Assert.Fail($"{Describe()} did not exit within {limit.TotalSeconds} s.{Diagnostics()}");
        }
        Unshare.WaitForExit(); // drains the redirected streams
        Assert.True(code == Unshare.ExitCode, $"{Describe()} exited {Unshare.ExitCode}, expected {code}.{Diagnostics()}");
    }

    /// <summary>Kills the namespace's init process (and so the whole pid namespace) and unshare.</summary>
    public void Dispose()
    {
        try
        {
            if (!Unshare.HasExited)
            {
                Unshare.Kill(entireProcessTree: true);
                Unshare.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // never started or already reaped
        }
        Unshare.Dispose();
    }

    private string Describe() => $"Namespaced child '{_scenario}' (unshare pid {Unshare.Id})";

    private string Diagnostics()
    {
        string stdout;
        lock (_stdout)
        {
            stdout = _stdout.ToString();
        }
        return $"{Environment.NewLine}stdout:{Environment.NewLine}{stdout}stderr:{Environment.NewLine}{StandardError}";
    }
}
