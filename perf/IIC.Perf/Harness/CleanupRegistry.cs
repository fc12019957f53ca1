using System.Runtime.InteropServices;

namespace IIC.Perf.Harness;

/// <summary>
/// Things that must not outlive the run whatever happens (network namespaces, child processes): disposed on normal
/// exit, on an unhandled exception, and on SIGINT, SIGTERM, SIGHUP and SIGQUIT before the process ends.
/// </summary>
internal static class CleanupRegistry
{
    private static readonly Lock s_lock = new();
    private static readonly List<IDisposable> s_items = [];
    private static readonly List<PosixSignalRegistration> s_signals = [];

    /// <summary>Registers <paramref name="item"/>; disposing the returned token unregisters it (without disposing it).</summary>
    public static IDisposable Register(IDisposable item)
    {
        lock (s_lock)
        {
            if (s_signals.Count == 0)
            {
                foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGQUIT })
                {
                    s_signals.Add(PosixSignalRegistration.Create(signal, OnSignal));
                }
                AppDomain.CurrentDomain.ProcessExit += (_, _) => DisposeAll();
                AppDomain.CurrentDomain.UnhandledException += (_, _) => DisposeAll();
            }
            s_items.Add(item);
        }
        return new Token(item);
    }

    /// <summary>Disposes everything registered, newest first, once each.</summary>
    public static void DisposeAll()
    {
        IDisposable[] items;
        lock (s_lock)
        {
            items = [.. s_items];
            s_items.Clear();
        }
        for (var i = items.Length - 1; i >= 0; i--)
        {
            try
            {
                items[i].Dispose();
            }
            catch (Exception e)
            {
                Console.Error.WriteLine($"cleanup: {e.Message}");
            }
        }
    }

    private static void OnSignal(PosixSignalContext context)
    {
        Console.Error.WriteLine($"{context.Signal}: cleaning up (child processes, network namespaces) before exiting.");
        DisposeAll();
        context.Cancel = false; // then the default action: the process ends
    }

    private sealed class Token(IDisposable item) : IDisposable
    {
        public void Dispose()
        {
            lock (s_lock)
            {
                s_items.Remove(item);
            }
        }
    }
}
