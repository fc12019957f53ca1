namespace IIC.Cli;

/// <summary>
/// Walks a command's arguments: options as <c>--option value</c> or <c>--option=value</c>. Every mistake is a
/// <see cref="UsageException"/> that names the argument.
/// </summary>
internal sealed class ArgumentReader
{
    private readonly List<(string Text, bool Inline)> _tokens = [];
    private int _index;

    public ArgumentReader(string[] args)
    {
        foreach (var arg in args)
        {
            var equals = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && equals > 2)
            {
                _tokens.Add((arg[..equals], false));
                _tokens.Add((arg[(equals + 1)..], true)); // a value given with '=' may start with dashes
            }
            else
            {
                _tokens.Add((arg, false));
            }
        }
    }

    /// <summary>Moves to the next option; false at the end.</summary>
    public bool Next(out string option)
    {
        if (_index >= _tokens.Count)
        {
            option = "";
            return false;
        }
        option = _tokens[_index++].Text;
        return true;
    }

    /// <summary>The value of the option just read.</summary>
    /// <exception cref="UsageException">There is none.</exception>
    public string Value(string option)
    {
        if (_index >= _tokens.Count)
        {
            throw new UsageException($"{option} needs a value.");
        }
        var (text, inline) = _tokens[_index];
        if (!inline && text.StartsWith("--", StringComparison.Ordinal))
        {
            throw new UsageException($"{option} needs a value, but the next argument is the option '{text}'.");
        }
        _index++;
        return text;
    }

    /// <summary>Throws if the flag just read was given a value with '='.</summary>
    public void NoValue(string option)
    {
        if (_index < _tokens.Count && _tokens[_index].Inline)
        {
            throw new UsageException($"{option} takes no value.");
        }
    }
}
