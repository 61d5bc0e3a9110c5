using SegmentAnything.Checkpoints;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// EfficientSAM's <c>MLPBlock</c> (mlp.py): <c>layers.i.0</c> linear layers each followed by GELU
/// (all of width hidden), then a plain linear <c>fc</c> to the output width.
/// </summary>
public sealed class EfficientSamMlp
{
    private readonly Linear[] _layers;
    private readonly Linear _fc;

    public int InputDim { get; }
    public int HiddenDim { get; }
    public int OutputDim { get; }
    public int NumLayers => _layers.Length;

    public EfficientSamMlp(WeightBinder binder, string prefix, int inputDim, int hiddenDim, int outputDim, int numLayers)
    {
        if (numLayers < 1) throw new ArgumentOutOfRangeException(nameof(numLayers), "MLPBlock needs at least one layer.");
        (InputDim, HiddenDim, OutputDim) = (inputDim, hiddenDim, outputDim);
        _layers = new Linear[numLayers];
        for (int i = 0; i < numLayers; i++)
        {
            int fanIn = i == 0 ? inputDim : hiddenDim;
            string p = $"{prefix}.layers.{i}.0";
            _layers[i] = new Linear(binder.Take(p + ".weight", hiddenDim, fanIn), binder.Take(p + ".bias", hiddenDim), fanIn, hiddenDim);
        }
        _fc = new Linear(binder.Take(prefix + ".fc.weight", outputDim, hiddenDim), binder.Take(prefix + ".fc.bias", outputDim), hiddenDim, outputDim);
    }

    /// <summary>Counts the <c>layers.i</c> entries stored under <paramref name="prefix"/>.</summary>
    public static int CountLayers(StateDict dict, string prefix)
    {
        int n = 0;
        while (dict.Contains($"{prefix}.layers.{n}.0.weight")) n++;
        return n;
    }

    /// <param name="x">[rows, InputDim].</param>
    /// <returns>[rows, OutputDim].</returns>
    public float[] Forward(ReadOnlySpan<float> x, int rows)
    {
        float[] h = x.ToArray();
        foreach (var layer in _layers)
        {
            h = layer.Forward(h, rows);
            Activations.Gelu(h);
        }
        return _fc.Forward(h, rows);
    }
}
