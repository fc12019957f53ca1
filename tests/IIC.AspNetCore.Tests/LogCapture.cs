using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace IIC.AspNetCore.Tests;

/// <summary>One log entry as a host's logger received it.</summary>
internal readonly record struct CapturedLog(string Category, int EventId, LogLevel Level, string Message, Exception? Exception);

/// <summary>A logger provider that records every entry of every category (at every level) for a test to look at.</summary>
internal sealed class LogCapture : ILoggerProvider
{
    /// <summary>The entries so far, in the order they were logged.</summary>
    public ConcurrentQueue<CapturedLog> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, Entries);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<CapturedLog> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => entries.Enqueue(new CapturedLog(category, eventId.Id, logLevel, formatter(state, exception), exception));
    }
}
